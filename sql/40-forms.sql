-- Forms: one row per version of a form (slug + version). A draft version is
-- edited in place; once published its content is frozen (forms_immutable_published).
-- Submission counters live in pliers.form_counters (DESIGN decision 6).

CREATE TABLE pliers.forms (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),

    -- Identification
    name varchar(255) NOT NULL,
    slug pliers.slug NOT NULL,
    version pliers.semver NOT NULL DEFAULT '1.0.0',

    -- Status and visibility
    status pliers.form_status NOT NULL DEFAULT 'draft',
    visibility pliers.form_visibility NOT NULL DEFAULT 'private',

    -- Form definition (complete structure)
    definition jsonb NOT NULL,

    -- Configuration
    settings jsonb NOT NULL DEFAULT '{}',
    permissions jsonb NOT NULL DEFAULT '{}',

    -- Categorization
    category varchar(255),
    tags text[] NOT NULL DEFAULT '{}',

    -- Versioning
    parent_id uuid,
    is_latest boolean NOT NULL DEFAULT TRUE,
    published_at timestamptz,
    deprecated_at timestamptz,

    -- Metadata
    metadata jsonb NOT NULL DEFAULT '{}',

    -- Optimistic concurrency
    revision integer NOT NULL DEFAULT 1,

    -- Audit fields
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    created_by uuid,
    updated_by uuid,
    published_by uuid,

    CONSTRAINT forms_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT forms_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT forms_parent_id_fkey FOREIGN KEY (organization_id, parent_id)
    REFERENCES pliers.forms (organization_id, id),
    CONSTRAINT forms_created_by_fkey FOREIGN KEY (organization_id, created_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT forms_updated_by_fkey FOREIGN KEY (organization_id, updated_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT forms_published_by_fkey FOREIGN KEY (organization_id, published_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT valid_semver CHECK (version ~ '^\d+\.\d+\.\d+$'),
    CONSTRAINT forms_parent_not_self CHECK (parent_id <> id),
    CONSTRAINT forms_published_at_consistent CHECK (
        CASE status
            WHEN 'draft' THEN published_at IS NULL
            WHEN 'archived' THEN TRUE
            ELSE published_at IS NOT NULL
        END
    ),
    CONSTRAINT forms_deprecated_at_consistent CHECK (
        CASE status
            WHEN 'deprecated' THEN deprecated_at IS NOT NULL
            WHEN 'archived' THEN TRUE
            ELSE deprecated_at IS NULL
        END
    ),
    CONSTRAINT forms_deprecated_after_published CHECK (deprecated_at >= published_at),
    CONSTRAINT forms_definition_object CHECK (jsonb_typeof(definition) = 'object'),
    CONSTRAINT forms_settings_object CHECK (jsonb_typeof(settings) = 'object'),
    CONSTRAINT forms_permissions_object CHECK (jsonb_typeof(permissions) = 'object'),
    CONSTRAINT forms_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT forms_tags_no_null CHECK (array_position(tags, NULL) IS NULL),
    CONSTRAINT forms_revision_positive CHECK (revision > 0)
);

COMMENT ON TABLE pliers.forms IS
'Form versions. One row per (slug, version); one latest version per slug; published versions are immutable. Soft-deleted.';
COMMENT ON COLUMN pliers.forms.slug IS 'Identifies the form across its versions';
COMMENT ON COLUMN pliers.forms.version IS
'Semantic version of this form version, MAJOR.MINOR.PATCH without pre-release suffix (constraint valid_semver)';
COMMENT ON COLUMN pliers.forms.status IS
'draft -> published -> deprecated -> archived. A non-draft version cannot return to draft nor change its content.';
COMMENT ON COLUMN pliers.forms.visibility IS 'Who may see and submit the form (see type form_visibility)';
COMMENT ON COLUMN pliers.forms.definition IS
'JSON object: the complete form structure (title, fields, sections, pages, logic, calculations, integrations); schemas/form-definition';
COMMENT ON COLUMN pliers.forms.settings IS
'JSON object: behaviour of this version (confirmation, limits, scheduling). Frozen once published.';
COMMENT ON COLUMN pliers.forms.permissions IS 'JSON object: access rules; may change after publication';
COMMENT ON COLUMN pliers.forms.parent_id IS 'The version this one was derived from (same organization)';
COMMENT ON COLUMN pliers.forms.is_latest IS
'TRUE on the current version of the slug; at most one non-deleted row per slug (forms_slug_latest_idx)';
COMMENT ON COLUMN pliers.forms.published_at IS 'Set when published; required for published and deprecated versions';
COMMENT ON COLUMN pliers.forms.deprecated_at IS 'Set when deprecated; required for deprecated versions';
COMMENT ON COLUMN pliers.forms.revision IS
'Optimistic-concurrency token, incremented on every update (trigger forms_revision)';

-- Immutability of published versions -------------------------------------

CREATE FUNCTION pliers._forms_immutable_published()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
DECLARE
    frozen constant text[] := ARRAY[
        'organization_id', 'id', 'name', 'slug', 'version', 'definition', 'settings',
        'parent_id', 'published_at', 'published_by', 'created_at', 'created_by'
    ];
    old_row constant jsonb := to_jsonb(OLD);
    new_row constant jsonb := to_jsonb(NEW);
    changed text[];
BEGIN
    IF OLD.status = 'draft' THEN
        RETURN NEW;
    END IF;

    SELECT coalesce(array_agg(col ORDER BY col), '{}')
    INTO changed
    FROM unnest(frozen) AS col
    WHERE old_row -> col IS DISTINCT FROM new_row -> col;

    IF NEW.status = 'draft' THEN
        changed := changed || 'status'::text;
    END IF;

    IF cardinality(changed) > 0 THEN
        RAISE EXCEPTION 'form % version % is % and cannot change', OLD.id, OLD.version, OLD.status
            USING
                ERRCODE = 'PL005',
                DETAIL = jsonb_build_object(
                    'object', 'form',
                    'id', OLD.id,
                    'status', OLD.status,
                    'columns', to_jsonb(changed)
                )::text,
                HINT = 'Create a new draft version of the form instead.';
    END IF;

    RETURN NEW;
END
$$;

COMMENT ON FUNCTION pliers._forms_immutable_published() IS
'BEFORE UPDATE trigger of forms. On a non-draft row (published, deprecated, archived), raises PL005 '
'(DETAIL {object, id, status, columns}) if any of organization_id, id, name, slug, version, definition, settings, '
'parent_id, published_at, published_by, created_at, created_by changes, or if status goes back to draft. '
'Still allowed: status among published/deprecated/archived, is_latest, deprecated_at, deleted_at, visibility, '
'permissions, category, tags, metadata, updated_at, updated_by, revision.';

CREATE TRIGGER forms_immutable_published
BEFORE UPDATE ON pliers.forms
FOR EACH ROW EXECUTE FUNCTION pliers._forms_immutable_published();

COMMENT ON TRIGGER forms_immutable_published ON pliers.forms IS
'Published form versions are immutable (PL005); see pliers._forms_immutable_published()';

CREATE TRIGGER forms_revision
BEFORE UPDATE ON pliers.forms
FOR EACH ROW EXECUTE FUNCTION pliers._bump_revision();

COMMENT ON TRIGGER forms_revision ON pliers.forms IS 'Increments revision';

CREATE TRIGGER forms_updated_at
BEFORE UPDATE ON pliers.forms
FOR EACH ROW EXECUTE FUNCTION pliers._set_updated_at();

COMMENT ON TRIGGER forms_updated_at ON pliers.forms IS 'Maintains updated_at';

-- Indexes of forms -------------------------------------------------------------

-- Versions of one form, newest first, and the lookup by (slug, version); one live row per slug and version.
CREATE UNIQUE INDEX unique_form_slug_per_org ON pliers.forms (organization_id, slug, version)
WHERE deleted_at IS NULL;

COMMENT ON INDEX pliers.unique_form_slug_per_org IS
'Seed rule unique_form_slug_per_org among non-deleted versions; lists the versions of a slug';

-- "The current version of form <slug>" (rendering, submitting); at most one latest live version per slug.
CREATE UNIQUE INDEX forms_slug_latest_idx ON pliers.forms (organization_id, slug)
WHERE is_latest AND deleted_at IS NULL;

COMMENT ON INDEX pliers.forms_slug_latest_idx IS 'Only one latest non-deleted version per slug; finds it';

-- Form library: the tenant's current forms by status, most recently changed first.
CREATE INDEX forms_status_updated_at_idx ON pliers.forms (organization_id, status, updated_at DESC)
WHERE is_latest AND deleted_at IS NULL;

COMMENT ON INDEX pliers.forms_status_updated_at_idx IS 'Form library listing: latest live versions by status and recency';

-- Form library filtered by tag (tags @> ARRAY['hr']).
CREATE INDEX forms_tags_idx ON pliers.forms USING gin (tags);

COMMENT ON INDEX pliers.forms_tags_idx IS 'tags @> / && searches of forms';

-- FK forms_parent_id_fkey, and "versions derived from this one".
CREATE INDEX forms_parent_id_idx ON pliers.forms (organization_id, parent_id)
WHERE parent_id IS NOT NULL;

COMMENT ON INDEX pliers.forms_parent_id_idx IS 'Serves FK forms_parent_id_fkey; children of a version';

-- FK forms_created_by_fkey, and "forms I created".
CREATE INDEX forms_created_by_idx ON pliers.forms (organization_id, created_by)
WHERE created_by IS NOT NULL;

COMMENT ON INDEX pliers.forms_created_by_idx IS 'Serves FK forms_created_by_fkey; forms by creator';

-- FK forms_updated_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX forms_updated_by_idx ON pliers.forms (organization_id, updated_by)
WHERE updated_by IS NOT NULL;

COMMENT ON INDEX pliers.forms_updated_by_idx IS 'Serves FK forms_updated_by_fkey';

-- FK forms_published_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX forms_published_by_idx ON pliers.forms (organization_id, published_by)
WHERE published_by IS NOT NULL;

COMMENT ON INDEX pliers.forms_published_by_idx IS 'Serves FK forms_published_by_fkey';

-- Form collaborators -----------------------------------------------------------

CREATE TABLE pliers.form_collaborators (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    form_id uuid NOT NULL,
    user_id uuid NOT NULL,
    permission_level varchar(50) NOT NULL,
    can_edit boolean NOT NULL DEFAULT FALSE,
    can_delete boolean NOT NULL DEFAULT FALSE,
    can_publish boolean NOT NULL DEFAULT FALSE,
    can_view_submissions boolean NOT NULL DEFAULT TRUE,
    granted_at timestamptz NOT NULL DEFAULT now(),
    granted_by uuid,
    revoked_at timestamptz,

    CONSTRAINT form_collaborators_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT form_collaborators_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT form_collaborators_form_id_fkey FOREIGN KEY (organization_id, form_id)
    REFERENCES pliers.forms (organization_id, id)
    ON DELETE CASCADE,
    CONSTRAINT form_collaborators_user_id_fkey FOREIGN KEY (organization_id, user_id)
    REFERENCES pliers.users (organization_id, id)
    ON DELETE CASCADE,
    CONSTRAINT form_collaborators_granted_by_fkey FOREIGN KEY (organization_id, granted_by)
    REFERENCES pliers.users (organization_id, id),
    CONSTRAINT form_collaborators_permission_level_not_blank CHECK (btrim(permission_level) <> ''),
    CONSTRAINT form_collaborators_revoked_after_granted CHECK (revoked_at >= granted_at)
);

COMMENT ON TABLE pliers.form_collaborators IS
'Users given rights on one form. Revoking sets revoked_at (the row stays as history); a revoked user can be added again.';
COMMENT ON COLUMN pliers.form_collaborators.organization_id IS
'Tenant key (missing in the seed); equals the organization of the form and of the user';
COMMENT ON COLUMN pliers.form_collaborators.permission_level IS
'Named level shown in the UI (e.g. viewer, editor); the can_* flags are what is enforced. No fixed list in the seed.';
COMMENT ON COLUMN pliers.form_collaborators.revoked_at IS 'Set when revoked; NULL = current collaborator';

-- A form's current collaborators (sharing dialog, permission checks); one current grant per user and form.
CREATE UNIQUE INDEX unique_form_collaborator ON pliers.form_collaborators (organization_id, form_id, user_id)
WHERE revoked_at IS NULL;

COMMENT ON INDEX pliers.unique_form_collaborator IS
'Seed rule unique_form_collaborator, among non-revoked rows only; lists a form''s current collaborators';

-- FK form_collaborators_form_id_fkey over revoked rows too (the unique index above is partial).
CREATE INDEX form_collaborators_form_id_idx ON pliers.form_collaborators (organization_id, form_id);

COMMENT ON INDEX pliers.form_collaborators_form_id_idx IS 'Serves FK form_collaborators_form_id_fkey (ON DELETE CASCADE)';

-- "Forms shared with me" and FK form_collaborators_user_id_fkey.
CREATE INDEX form_collaborators_user_id_idx ON pliers.form_collaborators (organization_id, user_id, form_id);

COMMENT ON INDEX pliers.form_collaborators_user_id_idx IS
'Forms shared with a user; serves FK form_collaborators_user_id_fkey (ON DELETE CASCADE)';

-- FK form_collaborators_granted_by_fkey (NO ACTION): checked when a user is hard-deleted; users are soft-deleted.
CREATE INDEX form_collaborators_granted_by_idx ON pliers.form_collaborators (organization_id, granted_by)
WHERE granted_by IS NOT NULL;

COMMENT ON INDEX pliers.form_collaborators_granted_by_idx IS
'Serves FK form_collaborators_granted_by_fkey';

-- Form counters (DESIGN decision 6) ----------------------------------------------

CREATE TABLE pliers.form_counters (
    organization_id uuid NOT NULL,
    form_id uuid NOT NULL,
    slot smallint NOT NULL,
    submission_count bigint NOT NULL DEFAULT 0,
    last_submission_at timestamptz,

    CONSTRAINT form_counters_pkey PRIMARY KEY (organization_id, form_id, slot),
    CONSTRAINT form_counters_organization_id_fkey FOREIGN KEY (organization_id)
    REFERENCES pliers.organizations (id),
    CONSTRAINT form_counters_form_id_fkey FOREIGN KEY (organization_id, form_id)
    REFERENCES pliers.forms (organization_id, id)
    ON DELETE CASCADE,
    CONSTRAINT form_counters_slot_range CHECK (slot >= 0 AND slot < 16),
    CONSTRAINT form_counters_submission_count_non_negative CHECK (submission_count >= 0)
);

COMMENT ON TABLE pliers.form_counters IS
'Submission counters of a form, split over up to 16 slots so that concurrent submissions do not queue on one row '
'(replaces forms.submission_count / last_submission_at). Read through pliers.form_usage.';
COMMENT ON COLUMN pliers.form_counters.slot IS
'0..15. A writer picks a slot at random and upserts (INSERT ... ON CONFLICT DO UPDATE SET submission_count = submission_count + 1)';
COMMENT ON COLUMN pliers.form_counters.submission_count IS 'Submissions counted in this slot';
COMMENT ON COLUMN pliers.form_counters.last_submission_at IS 'Latest submission time counted in this slot';

CREATE VIEW pliers.form_usage WITH (security_invoker = TRUE) AS
SELECT
    f.organization_id,
    f.id AS form_id,
    coalesce(sum(c.submission_count), 0)::bigint AS submission_count,
    max(c.last_submission_at) AS last_submission_at
FROM pliers.forms AS f
LEFT JOIN pliers.form_counters AS c
    ON f.organization_id = c.organization_id AND f.id = c.form_id
GROUP BY f.organization_id, f.id;

COMMENT ON VIEW pliers.form_usage IS
'The seed''s forms.submission_count and forms.last_submission_at, summed over pliers.form_counters; one row per form. security_invoker: RLS of the caller applies.';
COMMENT ON COLUMN pliers.form_usage.submission_count IS 'Number of submissions counted for the form (0 if none)';
COMMENT ON COLUMN pliers.form_usage.last_submission_at IS 'Time of the latest counted submission, NULL if none';
