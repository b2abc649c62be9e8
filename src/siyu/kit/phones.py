"""Phone numbers as Siyu stores them: mainland mobiles as 11 digits."""

import phonenumbers
from django.utils.translation import gettext as _

from .errors import InvalidInput


def phone_normalise(raw: str, field: str = "phone") -> str:
    """A mainland mobile number as 11 digits; +86 and separators are accepted, other input refused."""
    try:
        number = phonenumbers.parse(str(raw or ""), "CN")
    except phonenumbers.NumberParseException:
        raise InvalidInput(_("%(value)r is not a phone number.") % {"value": raw}, code="bad_phone", field=field) from None
    if (
        not phonenumbers.is_valid_number(number)
        or number.country_code != 86
        or phonenumbers.number_type(number)
        not in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        )
    ):
        raise InvalidInput(_("%(value)r is not a mainland China mobile number.") % {"value": raw}, code="bad_phone", field=field)
    return str(number.national_number)
