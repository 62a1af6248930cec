-- pliers.forms, pliers.form_collaborators, pliers.form_counters and the view
-- pliers.form_usage (sql/40-forms.sql): columns, tenant keys, CHECKs, the
-- version and latest-version unique rules, the immutability of published
-- versions (PL005), the revision / updated_at triggers, and the slotted counters.
BEGIN;
SELECT plan(154);

-- Structure: forms ------------------------------------------------------------------

SELECT has_table('pliers', 'forms', 'pliers.forms exists');
SELECT columns_are('pliers', 'forms', ARRAY[
    'organization_id', 'id',
    'name', 'slug', 'version',
    'status', 'visibility',
    'definition', 'settings', 'permissions',
    'category', 'tags',
    'parent_id', 'is_latest', 'published_at', 'deprecated_at',
    'metadata', 'revision',
    'created_at', 'updated_at', 'deleted_at', 'created_by', 'updated_by', 'published_by'
], 'forms has the seed columns (counters moved to form_counters) plus revision');
SELECT hasnt_column('pliers', 'forms', 'submission_count', 'forms.submission_count moved to form_counters');
SELECT col_is_pk('pliers', 'forms', ARRAY['organization_id', 'id'], 'forms is keyed by (organization_id, id)');

SELECT col_type_is('pliers', 'forms', 'name', 'character varying(255)', 'name is varchar(255)');
SELECT col_type_is('pliers', 'forms', 'slug', 'pliers.slug', 'slug uses domain slug');
SELECT col_type_is('pliers', 'forms', 'version', 'pliers.semver', 'version uses domain semver');
SELECT col_type_is('pliers', 'forms', 'status', 'pliers.form_status', 'status uses enum form_status');
SELECT col_type_is('pliers', 'forms', 'visibility', 'pliers.form_visibility', 'visibility uses enum form_visibility');
SELECT col_type_is('pliers', 'forms', 'definition', 'jsonb', 'definition is jsonb');
SELECT col_type_is('pliers', 'forms', 'tags', 'text[]', 'tags is text[]');
SELECT col_type_is('pliers', 'forms', 'parent_id', 'uuid', 'parent_id is uuid');
SELECT col_type_is('pliers', 'forms', 'is_latest', 'boolean', 'is_latest is boolean');
SELECT col_type_is('pliers', 'forms', 'published_at', 'timestamp with time zone', 'published_at is timestamptz');
SELECT col_type_is('pliers', 'forms', 'revision', 'integer', 'revision is integer');

SELECT col_not_null('pliers', 'forms', 'name', 'name is NOT NULL');
SELECT col_not_null('pliers', 'forms', 'slug', 'slug is NOT NULL');
SELECT col_not_null('pliers', 'forms', 'version', 'version is NOT NULL');
SELECT col_not_null('pliers', 'forms', 'status', 'status is NOT NULL');
SELECT col_not_null('pliers', 'forms', 'visibility', 'visibility is NOT NULL');
SELECT col_not_null('pliers', 'forms', 'definition', 'definition is NOT NULL');
SELECT col_not_null('pliers', 'forms', 'settings', 'settings is NOT NULL');
SELECT col_not_null('pliers', 'forms', 'tags', 'tags is NOT NULL');
SELECT col_not_null('pliers', 'forms', 'is_latest', 'is_latest is NOT NULL');
SELECT col_not_null('pliers', 'forms', 'revision', 'revision is NOT NULL');
SELECT col_is_null('pliers', 'forms', 'parent_id', 'parent_id is nullable');

SELECT col_default_is('pliers', 'forms', 'version', '1.0.0', 'version defaults to 1.0.0');
SELECT col_default_is('pliers', 'forms', 'status', 'draft', 'status defaults to draft');
SELECT col_default_is('pliers', 'forms', 'visibility', 'private', 'visibility defaults to private');
SELECT col_default_is('pliers', 'forms', 'is_latest', TRUE, 'is_latest defaults to true');
SELECT col_default_is('pliers', 'forms', 'revision', 1, 'revision defaults to 1');
SELECT col_hasnt_default('pliers', 'forms', 'definition', 'definition has no default');

SELECT fk_ok('pliers', 'forms', ARRAY['organization_id'], 'pliers', 'organizations', ARRAY['id'],
    'forms.organization_id references organizations');
SELECT fk_ok('pliers', 'forms', ARRAY['organization_id', 'parent_id'], 'pliers', 'forms', ARRAY['organization_id',
    'id'],
    'forms.parent_id is a form of the same organization');
SELECT fk_ok('pliers', 'forms', ARRAY['organization_id', 'created_by'], 'pliers', 'users', ARRAY['organization_id',
    'id'],
    'forms.created_by is a user of the same organization');
SELECT fk_ok('pliers', 'forms', ARRAY['organization_id', 'updated_by'], 'pliers', 'users', ARRAY['organization_id',
    'id'],
    'forms.updated_by is a user of the same organization');
SELECT fk_ok('pliers', 'forms', ARRAY['organization_id', 'published_by'], 'pliers', 'users', ARRAY['organization_id',
    'id'],
    'forms.published_by is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.forms'::regclass AND contype <> 'n'$$,
    ARRAY[
        'forms_pkey', 'forms_organization_id_fkey', 'forms_parent_id_fkey', 'forms_created_by_fkey',
        'forms_updated_by_fkey', 'forms_published_by_fkey', 'valid_semver', 'forms_parent_not_self',
        'forms_published_at_consistent', 'forms_deprecated_at_consistent', 'forms_deprecated_after_published',
        'forms_definition_object', 'forms_settings_object', 'forms_permissions_object', 'forms_metadata_object',
        'forms_tags_no_null', 'forms_revision_positive'
    ],
    'forms has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'forms', ARRAY[
    'forms_pkey', 'unique_form_slug_per_org', 'forms_slug_latest_idx', 'forms_status_updated_at_idx', 'forms_tags_idx',
    'forms_parent_id_idx', 'forms_created_by_idx', 'forms_updated_by_idx', 'forms_published_by_idx'
], 'forms has the expected indexes');
SELECT index_is_unique('pliers', 'forms', 'unique_form_slug_per_org', 'unique_form_slug_per_org is unique');
SELECT index_is_unique('pliers', 'forms', 'forms_slug_latest_idx', 'forms_slug_latest_idx is unique');
SELECT index_is_type('pliers', 'forms', 'forms_tags_idx', 'gin', 'forms_tags_idx is a GIN index');
SELECT triggers_are('pliers', 'forms', ARRAY['forms_immutable_published', 'forms_revision', 'forms_updated_at', 'forms_audit'],
    'forms has the immutability, revision, updated_at and audit triggers');
SELECT trigger_is('pliers', 'forms', 'forms_immutable_published', 'pliers', '_forms_immutable_published',
    'forms_immutable_published runs _forms_immutable_published()');
SELECT trigger_is('pliers', 'forms', 'forms_revision', 'pliers', '_bump_revision',
    'forms_revision runs _bump_revision()');
SELECT trigger_is('pliers', 'forms', 'forms_updated_at', 'pliers', '_set_updated_at',
    'forms_updated_at runs _set_updated_at()');

-- Structure: form_collaborators, form_counters, form_usage ---------------------------------

SELECT has_table('pliers', 'form_collaborators', 'pliers.form_collaborators exists');
SELECT columns_are('pliers', 'form_collaborators', ARRAY[
    'organization_id', 'id', 'form_id', 'user_id', 'permission_level',
    'can_edit', 'can_delete', 'can_publish', 'can_view_submissions',
    'granted_at', 'granted_by', 'revoked_at'
], 'form_collaborators has the seed columns plus organization_id');
SELECT col_is_pk('pliers', 'form_collaborators', ARRAY['organization_id', 'id'],
    'form_collaborators is keyed by (organization_id, id)');
SELECT col_not_null('pliers', 'form_collaborators', 'permission_level', 'permission_level is NOT NULL');
SELECT col_not_null('pliers', 'form_collaborators', 'can_view_submissions', 'can_view_submissions is NOT NULL');
SELECT col_default_is('pliers', 'form_collaborators', 'can_edit', FALSE, 'can_edit defaults to false');
SELECT col_default_is('pliers', 'form_collaborators', 'can_view_submissions', TRUE,
    'can_view_submissions defaults to true');
SELECT fk_ok('pliers', 'form_collaborators', ARRAY['organization_id', 'form_id'], 'pliers', 'forms',
    ARRAY['organization_id', 'id'], 'form_collaborators.form_id is a form of the same organization');
SELECT fk_ok('pliers', 'form_collaborators', ARRAY['organization_id', 'user_id'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'form_collaborators.user_id is a user of the same organization');
SELECT fk_ok('pliers', 'form_collaborators', ARRAY['organization_id', 'granted_by'], 'pliers', 'users',
    ARRAY['organization_id', 'id'], 'form_collaborators.granted_by is a user of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.form_collaborators'::regclass AND contype <> 'n'$$,
    ARRAY['form_collaborators_pkey', 'form_collaborators_organization_id_fkey', 'form_collaborators_form_id_fkey',
        'form_collaborators_user_id_fkey', 'form_collaborators_granted_by_fkey',
        'form_collaborators_permission_level_not_blank', 'form_collaborators_revoked_after_granted'],
    'form_collaborators has exactly the expected constraints'
);
SELECT indexes_are('pliers', 'form_collaborators', ARRAY[
    'form_collaborators_pkey', 'unique_form_collaborator', 'form_collaborators_form_id_idx',
    'form_collaborators_user_id_idx', 'form_collaborators_granted_by_idx'
], 'form_collaborators has the expected indexes');
SELECT index_is_unique('pliers', 'form_collaborators', 'unique_form_collaborator',
    'unique_form_collaborator is unique');

SELECT has_table('pliers', 'form_counters', 'pliers.form_counters exists');
SELECT columns_are('pliers', 'form_counters', ARRAY[
    'organization_id', 'form_id', 'slot', 'submission_count', 'last_submission_at'
], 'form_counters has the expected columns');
SELECT col_is_pk('pliers', 'form_counters', ARRAY['organization_id', 'form_id', 'slot'],
    'form_counters is keyed by (organization_id, form_id, slot)');
SELECT col_type_is('pliers', 'form_counters', 'slot', 'smallint', 'slot is smallint');
SELECT col_type_is('pliers', 'form_counters', 'submission_count', 'bigint', 'submission_count is bigint');
SELECT col_default_is('pliers', 'form_counters', 'submission_count', 0, 'submission_count defaults to 0');
SELECT fk_ok('pliers', 'form_counters', ARRAY['organization_id', 'form_id'], 'pliers', 'forms',
    ARRAY['organization_id', 'id'], 'form_counters.form_id is a form of the same organization');
SELECT set_eq(
    $$SELECT conname::text FROM pg_catalog.pg_constraint
      WHERE conrelid = 'pliers.form_counters'::regclass AND contype <> 'n'$$,
    ARRAY['form_counters_pkey', 'form_counters_organization_id_fkey', 'form_counters_form_id_fkey',
        'form_counters_slot_range', 'form_counters_submission_count_non_negative'],
    'form_counters has exactly the expected constraints'
);

SELECT indexes_are('pliers', 'form_counters', ARRAY['form_counters_pkey'],
    'form_counters has only its primary key as index');
SELECT has_view('pliers', 'form_usage', 'pliers.form_usage exists');
SELECT columns_are('pliers', 'form_usage', ARRAY[
    'organization_id', 'form_id', 'submission_count', 'last_submission_at'
], 'form_usage has the seed counter columns, one row per form');
SELECT col_type_is('pliers', 'form_usage', 'submission_count', 'bigint', 'form_usage.submission_count is bigint');
SELECT ok(
    (SELECT 'security_invoker=true' = ANY (reloptions) FROM pg_catalog.pg_class
     WHERE oid = 'pliers.form_usage'::regclass),
    'form_usage is a security_invoker view'
);

-- Fixture ------------------------------------------------------------------------------
-- Organizations A and B; in A ann (creator) and pat (publisher), in B cat.
-- A: onboarding 1.0.0 published (latest), onboarding 1.1.0 draft child of it, survey 1.0.0 published.
-- B: onboarding 1.0.0 draft (same slug and version in another tenant).

INSERT INTO pliers.organizations (id, slug, name) VALUES
('00000000-0000-0000-0000-0000000000a0', 'forms-test-a', 'Forms test A'),
('00000000-0000-0000-0000-0000000000b0', 'forms-test-b', 'Forms test B');
INSERT INTO pliers.users (organization_id, id, email) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a1', 'ann@example.com'),
('00000000-0000-0000-0000-0000000000a0', '00000001-0000-0000-0000-0000000000a2', 'pat@example.com'),
('00000000-0000-0000-0000-0000000000b0', '00000001-0000-0000-0000-0000000000b1', 'cat@example.com');
INSERT INTO pliers.forms (organization_id, id, name, slug, version, status, definition, settings, is_latest, parent_id,
    published_at, published_by, created_by, created_at, updated_at) VALUES
('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a1', 'Onboarding', 'onboarding', '1.0.0',
    'published', '{"title": "Onboarding", "fields": []}', '{}', TRUE, NULL,
    '2001-01-02', '00000001-0000-0000-0000-0000000000a2', '00000001-0000-0000-0000-0000000000a1',
    '2001-01-01', '2001-01-01'),
('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2', 'Onboarding', 'onboarding', '1.1.0',
    'draft', '{"title": "Onboarding", "fields": []}', '{}', FALSE, '00000003-0000-0000-0000-0000000000a1',
    NULL, NULL, '00000001-0000-0000-0000-0000000000a1', '2001-01-01', '2001-01-01'),
('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a3', 'Survey', 'survey', '1.0.0',
    'published', '{"title": "Survey"}', '{}', TRUE, NULL,
    '2001-01-02', NULL, NULL, '2001-01-01', '2001-01-01'),
('00000000-0000-0000-0000-0000000000b0', '00000003-0000-0000-0000-0000000000b1', 'Onboarding', 'onboarding', '1.0.0',
    'draft', '{"title": "Onboarding B"}', '{}', TRUE, NULL,
    NULL, NULL, NULL, '2001-01-01', '2001-01-01');

-- forms: CHECKs, domains, enums, NOT NULL ---------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, version, status, visibility, definition, tags, category)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'Leave request', 'leave-request', '2.10.3', 'draft', 'public',
        '{"title": "Leave", "fields": [{"id": "f1", "type": "text"}]}', '{hr}', 'HR')$$,
    'a form with good values is accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, version, definition)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '1.0.0-beta1', '{}')$$,
    '23514', NULL, 'a pre-release version is rejected for forms (valid_semver, stricter than the domain)'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, version, definition)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '1.0', '{}')$$,
    '23514', NULL, 'a version that is not semver is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'Leave Request', '{}')$$,
    '23514', NULL, 'a slug that is not a slug is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, status)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', 'live')$$,
    '22P02', NULL, 'an unknown status is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, visibility)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', 'internal')$$,
    '22P02', NULL, 'an unknown visibility is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug) VALUES ('00000000-0000-0000-0000-0000000000a0', 'X',
        'x')$$,
    '23502', NULL, 'definition is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, slug, definition) VALUES ('00000000-0000-0000-0000-0000000000a0',
        'x', '{}')$$,
    '23502', NULL, 'name is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, id, name, slug, definition, parent_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000af', 'X', 'x', '{}',
        '00000003-0000-0000-0000-0000000000af')$$,
    '23514', NULL, 'a form cannot be its own parent'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, published_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', now())$$,
    '23514', NULL, 'a draft has no published_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, status)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', 'published')$$,
    '23514', NULL, 'a published form needs published_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, status, published_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', 'deprecated', now())$$,
    '23514', NULL, 'a deprecated form needs deprecated_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, status, published_at, deprecated_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', 'published', now(), now())$$,
    '23514', NULL, 'a published (not deprecated) form has no deprecated_at'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, status, published_at, deprecated_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', 'deprecated', '2001-01-02', '2001-01-01')$$,
    '23514', NULL, 'deprecated_at before published_at is rejected'
);
SELECT lives_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, version, definition, status, is_latest)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'Old', 'old', '0.1.0', '{}', 'archived', FALSE)$$,
    'an archived form may lack published_at and deprecated_at (an archived draft)'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '[]')$$,
    '23514', NULL, 'definition must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, settings)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', '[]')$$,
    '23514', NULL, 'settings must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, permissions)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', '"all"')$$,
    '23514', NULL, 'permissions must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, metadata)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', '[]')$$,
    '23514', NULL, 'metadata must be a JSON object'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, tags)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', ARRAY['hr', NULL])$$,
    '23514', NULL, 'tags may not contain NULL'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, revision)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', 0)$$,
    '23514', NULL, 'revision must be positive'
);

-- forms: unique version per slug, one latest version per slug ------------------------------

SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, version, definition, is_latest)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'Onboarding', 'onboarding', '1.0.0', '{}', FALSE)$$,
    '23505', NULL, 'a slug cannot have the same version twice'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, version, definition, is_latest)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'Onboarding', 'onboarding', '2.0.0', '{}', TRUE)$$,
    '23505', NULL, 'a slug cannot have two latest versions'
);
SELECT lives_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, version, definition, is_latest)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'Onboarding', 'onboarding', '2.0.0', '{}', FALSE)$$,
    'another non-latest version of the slug is accepted'
);
SELECT lives_ok(
    $$UPDATE pliers.forms SET deleted_at = now()
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a3'$$,
    'a published form version can be soft-deleted'
);
SELECT lives_ok(
    $$INSERT INTO pliers.forms (organization_id, id, name, slug, version, definition, is_latest)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a4', 'Survey', 'survey',
          '1.0.0',
        '{}', TRUE)$$,
    'a soft-deleted version''s slug and version can be created again, as the latest'
);

-- forms: tenant isolation -----------------------------------------------------------------

SELECT throws_ok(
    $$UPDATE pliers.forms SET parent_id = '00000003-0000-0000-0000-0000000000b1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a2'$$,
    '23503', NULL, 'parent_id cannot be a form of another organization'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, created_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'created_by cannot be a user of another organization'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET updated_by = '00000001-0000-0000-0000-0000000000b1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a2'$$,
    '23503', NULL, 'updated_by cannot be a user of another organization'
);
SELECT throws_ok(
    $$INSERT INTO pliers.forms (organization_id, name, slug, definition, status, published_at, published_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', 'X', 'x', '{}', 'published', now(),
        '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'published_by cannot be a user of another organization'
);

-- forms: a draft changes freely; revision and updated_at ---------------------------------------

SELECT lives_ok(
    $$UPDATE pliers.forms SET definition = '{"title": "Onboarding v1.1", "fields": [{"id": "f1"}]}',
        name = 'Onboarding 2',
        settings = '{"confirmation": "Thanks"}'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a2'$$,
    'a draft version can change its definition, name and settings'
);
SELECT row_eq(
    $$SELECT definition, revision, updated_at FROM pliers.forms WHERE id = '00000003-0000-0000-0000-0000000000a2'$$,
    ROW('{"title": "Onboarding v1.1", "fields": [{"id": "f1"}]}'::jsonb, 2, now()),
    'the draft keeps the new definition, revision 2, updated_at now()'
);

-- forms: a published version is immutable (PL005) -------------------------------------------

SELECT throws_ok(
    $$UPDATE pliers.forms SET definition = '{"title": "Changed"}'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a published version cannot change its definition'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET name = 'Renamed'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a published version cannot change its name'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET slug = 'onboarding-x'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a published version cannot change its slug'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET version = '1.0.1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a published version cannot change its version'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET settings = '{"confirmation": "x"}'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a published version cannot change its settings'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET parent_id = '00000003-0000-0000-0000-0000000000a3'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a published version cannot change its parent'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET published_at = '2001-01-03'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a published version cannot change published_at'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET published_by = '00000001-0000-0000-0000-0000000000a1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a published version cannot change published_by'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET created_at = '2000-01-01'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a published version cannot change created_at'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET created_by = '00000001-0000-0000-0000-0000000000a2'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a published version cannot change created_by to another user'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET id = '00000003-0000-0000-0000-0000000000ae'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a published version cannot change its id'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET status = 'draft', published_at = NULL
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'a published version cannot go back to draft'
);
SELECT lives_ok(
    $$UPDATE pliers.forms SET definition = '{"fields": [], "title": "Onboarding"}'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'writing the same definition again is not a change'
);
SELECT lives_ok(
    $$UPDATE pliers.forms SET visibility = 'public', permissions = '{"submit": "anyone"}', category = 'HR',
        tags = '{hr}', metadata = '{"color": "blue"}', updated_by = '00000001-0000-0000-0000-0000000000a1'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'a published version can change visibility, permissions, category, tags, metadata and updated_by'
);
SELECT lives_ok(
    $$UPDATE pliers.forms SET is_latest = FALSE
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'the published version stops being the latest'
);
SELECT lives_ok(
    $$UPDATE pliers.forms SET status = 'published', published_at = now(),
        published_by = '00000001-0000-0000-0000-0000000000a2',
        is_latest = TRUE
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a2'$$,
    'the draft child is published and becomes the latest'
);
SELECT lives_ok(
    $$UPDATE pliers.forms SET status = 'deprecated', deprecated_at = now()
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'published -> deprecated is allowed'
);
SELECT lives_ok(
    $$UPDATE pliers.forms SET status = 'archived'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'deprecated -> archived is allowed'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET definition = '{"title": "Archived change"}'
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'an archived version cannot change its definition'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET status = 'draft', published_at = NULL, deprecated_at = NULL
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'an archived version cannot go back to draft'
);
SELECT row_eq(
    $$SELECT status, is_latest, definition, visibility, revision, updated_at, created_at FROM pliers.forms
      WHERE id = '00000003-0000-0000-0000-0000000000a1'$$,
    ROW('archived'::pliers.form_status, FALSE, '{"title": "Onboarding", "fields": []}'::jsonb,
        'public'::pliers.form_visibility, 6, now(), '2001-01-01'::timestamptz),
    'the version is archived, not latest, with its original definition, revision 6 and updated_at now()'
);
SELECT is(
    (SELECT id FROM pliers.forms
     WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND slug = 'onboarding' AND is_latest
       AND deleted_at IS NULL),
    '00000003-0000-0000-0000-0000000000a2'::uuid,
    'the latest onboarding version is now 1.1.0'
);

-- form_collaborators ---------------------------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.form_collaborators (organization_id, id, form_id, user_id, permission_level, can_edit,
        granted_by,
        granted_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '0000000f-0000-0000-0000-0000000000a1',
        '00000003-0000-0000-0000-0000000000a2', '00000001-0000-0000-0000-0000000000a2', 'editor', TRUE,
        '00000001-0000-0000-0000-0000000000a1', '2001-01-01')$$,
    'a user of the organization becomes a collaborator on a form of the organization'
);
SELECT throws_ok(
    $$INSERT INTO pliers.form_collaborators (organization_id, form_id, user_id, permission_level)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2',
        '00000001-0000-0000-0000-0000000000a2', 'viewer')$$,
    '23505', NULL, 'a current collaborator cannot be added twice'
);
SELECT throws_ok(
    $$INSERT INTO pliers.form_collaborators (organization_id, form_id, user_id, permission_level)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2',
        '00000001-0000-0000-0000-0000000000a1', ' ')$$,
    '23514', NULL, 'a blank permission_level is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.form_collaborators (organization_id, form_id, user_id)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2',
        '00000001-0000-0000-0000-0000000000a1')$$,
    '23502', NULL, 'permission_level is required'
);
SELECT throws_ok(
    $$INSERT INTO pliers.form_collaborators (organization_id, form_id, user_id, permission_level, granted_at,
        revoked_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2',
        '00000001-0000-0000-0000-0000000000a1', 'viewer', '2001-01-02', '2001-01-01')$$,
    '23514', NULL, 'revoked_at before granted_at is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.form_collaborators (organization_id, form_id, user_id, permission_level)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000b1',
        '00000001-0000-0000-0000-0000000000a1', 'viewer')$$,
    '23503', NULL, 'a collaborator of organization A cannot be put on a form of organization B'
);
SELECT throws_ok(
    $$INSERT INTO pliers.form_collaborators (organization_id, form_id, user_id, permission_level)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2',
        '00000001-0000-0000-0000-0000000000b1', 'viewer')$$,
    '23503', NULL, 'a user of organization B cannot collaborate on a form of organization A'
);
SELECT throws_ok(
    $$INSERT INTO pliers.form_collaborators (organization_id, form_id, user_id, permission_level, granted_by)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2',
        '00000001-0000-0000-0000-0000000000a1', 'viewer', '00000001-0000-0000-0000-0000000000b1')$$,
    '23503', NULL, 'granted_by cannot be a user of another organization'
);
SELECT lives_ok(
    $$UPDATE pliers.form_collaborators SET revoked_at = now() WHERE id = '0000000f-0000-0000-0000-0000000000a1'$$,
    'a collaborator is revoked'
);
SELECT lives_ok(
    $$INSERT INTO pliers.form_collaborators (organization_id, form_id, user_id, permission_level)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2',
        '00000001-0000-0000-0000-0000000000a2', 'viewer')$$,
    'a revoked collaborator can be added again'
);

-- form_counters and form_usage ------------------------------------------------------------------

SELECT lives_ok(
    $$INSERT INTO pliers.form_counters (organization_id, form_id, slot, submission_count, last_submission_at) VALUES
      ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2', 0, 2, '2001-02-01'),
      ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2', 3, 5, '2001-02-03'),
      ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2', 15, 7, '2001-02-02')$$,
    'counter slots 0, 3 and 15 are accepted'
);
SELECT throws_ok(
    $$INSERT INTO pliers.form_counters (organization_id, form_id, slot)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2', 16)$$,
    '23514', NULL, 'slot 16 is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.form_counters (organization_id, form_id, slot)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2', -1)$$,
    '23514', NULL, 'slot -1 is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.form_counters (organization_id, form_id, slot, submission_count)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2', 1, -1)$$,
    '23514', NULL, 'a negative submission_count is rejected'
);
SELECT throws_ok(
    $$INSERT INTO pliers.form_counters (organization_id, form_id, slot)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2', 3)$$,
    '23505', NULL, 'a slot exists once per form'
);
SELECT throws_ok(
    $$INSERT INTO pliers.form_counters (organization_id, form_id, slot)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000b1', 0)$$,
    '23503', NULL, 'a counter of organization A cannot count a form of organization B'
);
SELECT lives_ok(
    $$INSERT INTO pliers.form_counters AS c (organization_id, form_id, slot, submission_count, last_submission_at)
      VALUES ('00000000-0000-0000-0000-0000000000a0', '00000003-0000-0000-0000-0000000000a2', 3, 1, '2001-02-04')
      ON CONFLICT (organization_id, form_id, slot) DO UPDATE
      SET submission_count = c.submission_count + 1,
          last_submission_at = greatest(c.last_submission_at, excluded.last_submission_at)$$,
    'the documented upsert increments an existing slot'
);
SELECT results_eq(
    $$SELECT form_id, submission_count, last_submission_at FROM pliers.form_usage
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0'
        AND form_id IN ('00000003-0000-0000-0000-0000000000a1', '00000003-0000-0000-0000-0000000000a2')
      ORDER BY form_id$$,
    $$VALUES ('00000003-0000-0000-0000-0000000000a1'::uuid, 0::bigint, NULL::timestamptz),
             ('00000003-0000-0000-0000-0000000000a2'::uuid, 15::bigint, '2001-02-04'::timestamptz)$$,
    'form_usage sums the slots (2 + 6 + 7) and takes the latest time; a form without counters has 0 and NULL'
);
SELECT is(
    (SELECT count(*)::integer FROM pliers.form_usage WHERE organization_id = '00000000-0000-0000-0000-0000000000a0'),
    (SELECT count(*)::integer FROM pliers.forms WHERE organization_id = '00000000-0000-0000-0000-0000000000a0'),
    'form_usage has one row per form'
);

-- Deletes ---------------------------------------------------------------------------------------

SELECT throws_ok(
    $$DELETE FROM pliers.forms
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'a version that is the parent of another cannot be hard-deleted'
);
SELECT lives_ok(
    $$DELETE FROM pliers.forms
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a2'$$,
    'a published version with collaborators and counters can be hard-deleted (the triggers are BEFORE UPDATE only)'
);
SELECT is_empty(
    $$SELECT FROM pliers.form_collaborators WHERE form_id = '00000003-0000-0000-0000-0000000000a2'
      UNION ALL SELECT FROM pliers.form_counters WHERE form_id = '00000003-0000-0000-0000-0000000000a2'$$,
    'its collaborators and counters are deleted with it'
);
-- The actor references are NO ACTION: a user still named by a version cannot be
-- hard-deleted (users are soft-deleted), and the author columns of a non-draft version
-- are frozen, so only the version's own deletion frees its users.
SELECT throws_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a2'$$,
    '23503', NULL, 'the publisher of a published version cannot be hard-deleted (NO ACTION)'
);
SELECT throws_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000001-0000-0000-0000-0000000000a1'$$,
    '23503', NULL, 'the creator of a published version cannot be hard-deleted (NO ACTION)'
);
SELECT row_eq(
    $$SELECT organization_id, status, created_by, published_by, updated_by FROM pliers.forms
      WHERE id = '00000003-0000-0000-0000-0000000000a1'$$,
    ROW('00000000-0000-0000-0000-0000000000a0'::uuid, 'archived'::pliers.form_status,
        '00000001-0000-0000-0000-0000000000a1'::uuid, '00000001-0000-0000-0000-0000000000a2'::uuid,
        '00000001-0000-0000-0000-0000000000a1'::uuid),
    'the version keeps its organization, created_by, published_by and updated_by'
);
SELECT throws_ok(
    $$UPDATE pliers.forms SET created_by = NULL, published_by = NULL
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'PL005', NULL, 'the authors of a non-draft version cannot be cleared by hand either'
);
SELECT lives_ok(
    $$DELETE FROM pliers.forms
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0' AND id = '00000003-0000-0000-0000-0000000000a1'$$,
    'the archived version can be hard-deleted'
);
SELECT lives_ok(
    $$DELETE FROM pliers.users
      WHERE organization_id = '00000000-0000-0000-0000-0000000000a0'
        AND id IN ('00000001-0000-0000-0000-0000000000a1', '00000001-0000-0000-0000-0000000000a2')$$,
    'once no version names them, its creator and publisher can be hard-deleted'
);

SELECT * FROM finish();
ROLLBACK;
