"""Form fields that refuse what no Siyu field stores: dates outside 1900–2199 (timezone arithmetic
at year 1 or 9999 fails) and integers beyond the database's 64 bits. Every console form uses these
instead of Django's DateField and IntegerField, so a value at the edge is an error on the field."""

from datetime import date

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from siyu.kit.schema import DAY_RANGE, INT_MAX


class DayField(forms.DateField):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.validators += [
            MinValueValidator(date(DAY_RANGE[0], 1, 1), message=_("Dates run from 1900 to 2199.")),
            MaxValueValidator(date(DAY_RANGE[1], 12, 31), message=_("Dates run from 1900 to 2199.")),
        ]


class WholeField(forms.IntegerField):
    def __init__(self, *args, max_value=INT_MAX, min_value=-INT_MAX, **kwargs):
        super().__init__(*args, max_value=max_value, min_value=min_value, **kwargs)
