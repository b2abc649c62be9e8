from django_tasks import task

from siyu.corps.models import Corp
from siyu.kit.errors import InvalidInput

from .lifetime import clv_refresh
from .models import ClvFit


@task()
def refresh_clv(corp_id: int, horizon_days: int | None = None) -> dict:

    corp = Corp.objects.get(pk=corp_id)
    previous = ClvFit.objects.filter(corp=corp).values_list("horizon_days", flat=True).first()
    try:
        fit = clv_refresh(corp=corp, horizon_days=horizon_days or previous or 365)
    except InvalidInput as exc:
        # Not enough history yet is a state to show, not a failure to retry.
        ClvFit.objects.update_or_create(corp=corp, defaults={"error": exc.message[:300]})
        return {"error": exc.code}
    return {"customers": fit.customers, "seconds": fit.seconds}
