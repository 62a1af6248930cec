"""Import form definitions of other builders into pliersdb's format (docs/formats.md).

    from pliersdb.formats import from_xlsform, from_surveyjs, from_formio

    conversion = from_surveyjs(json.load(open("survey.json")))
    conversion.definition      # a pliersdb definition (docs/forms.md)
    conversion.warnings        # what it could not carry: ConversionWarning(location, code, message)

Each converter keeps the source's names as answer keys, its translations, conditions and
rules; a rule it cannot convert faithfully is dropped with a warning, never kept wrong.
``from_xlsform`` needs pyxform (``pip install pliersdb[formats]``).
"""

from pliersdb.formats._common import Conversion, ConversionWarning
from pliersdb.formats.formio import from_formio
from pliersdb.formats.surveyjs import from_surveyjs
from pliersdb.formats.xlsform import from_xlsform

Warning = ConversionWarning  # the brief's name; ConversionWarning does not hide the builtin

__all__ = ["Conversion", "ConversionWarning", "Warning", "from_formio", "from_surveyjs",
           "from_xlsform"]
