"""Django's own messages that its Chinese catalogue words as a programmer would ("确保该变量包含不超过
30 字符": "ensure this variable…"). Listed here so that `makemessages` keeps them in Siyu's
catalogue, which LOCALE_PATHS puts ahead of Django's; the wording operators read is ours."""

from django.utils.translation import ngettext_lazy

REWORDED = [
    ngettext_lazy(
        "Ensure this value has at most %(limit_value)d character (it has %(show_value)d).",
        "Ensure this value has at most %(limit_value)d characters (it has %(show_value)d).",
        "limit_value",
    ),
    ngettext_lazy(
        "Ensure this value has at least %(limit_value)d character (it has %(show_value)d).",
        "Ensure this value has at least %(limit_value)d characters (it has %(show_value)d).",
        "limit_value",
    ),
]
