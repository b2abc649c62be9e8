"""What the port does when other domains change customer data WeCom also holds."""

from siyu.customers.events import FollowTagsChanged
from siyu.kit.events import subscribe
from siyu.kit.queue import enqueue_after_commit

# mark_tag is one call per follow: a bulk change is marked by several tasks, so one slow or
# rate-limited batch does not hold back the rest and a retry repeats little.
PUSH_BATCH = 500


@subscribe(FollowTagsChanged)
def follow_tags_to_wecom(event: FollowTagsChanged) -> None:
    changes = [[follow_id, list(plus), list(minus)] for follow_id, plus, minus in event.changes]
    for start in range(0, len(changes), PUSH_BATCH):
        enqueue_after_commit("siyu.wecom.tasks.push_tags_to_wecom", event.corp_id, changes[start : start + PUSH_BATCH])
