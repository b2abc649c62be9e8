from ninja import Router, Schema

from . import selectors

router = Router(tags=["corp"])


class MeOut(Schema):
    username: str
    corp_id: str
    corp_name: str
    timezone: str
    role: str
    staff_id: int | None


class StaffOut(Schema):
    id: int
    userid: str
    name: str
    department: str | None
    position: str
    status: str


@router.get("/me", response=MeOut)
def me(request):
    actor = request.auth
    return MeOut(
        username=actor.user.get_username(),
        corp_id=actor.corp.corp_id,
        corp_name=actor.corp.name,
        timezone=actor.corp.timezone,
        role=actor.role,
        staff_id=actor.staff_id,
    )


@router.get("/staff", response=list[StaffOut])
def staff_list(request):
    return [
        StaffOut(id=s.id, userid=s.userid, name=s.name, department=s.department.name if s.department else None, position=s.position, status=s.status)
        for s in selectors.staff_list(request.auth)
    ]
