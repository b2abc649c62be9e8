"""Every console form field renders through one template: its label, the input, its help, and its
errors next to it (Django's `as_field_group`)."""

from django.forms.renderers import DjangoTemplates


class ConsoleFormRenderer(DjangoTemplates):
    field_template_name = "console/_field.html"
