from django_tasks import task

from . import coupons, members, reading


@task()
def reading_alert(view_id: int) -> str:
    return reading.reading_alert(view_id)


@task()
def issue_to_segment(template_id: int, segment_id: int) -> int:
    return coupons.coupons_issue_to_segment_run(template_id, segment_id)


@task()
def levels_recompute(corp_id: int) -> int:
    return members.levels_recompute(corp_id)
