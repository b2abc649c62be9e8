from django.db import models


class ApiState(models.Model):
    """Per corp, what every worker's client shares: the access token and a rate-limit pause."""

    corp = models.OneToOneField("corps.Corp", on_delete=models.CASCADE, related_name="wecom_state")
    token_encrypted = models.TextField(blank=True, default="")
    token_expires_at = models.DateTimeField(null=True, blank=True)
    # After a 45009/45033 no worker calls this corp's API before this time.
    paused_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
