from siyu.corps.selectors import memberships_of


def console(request):
    actor = getattr(request, "actor", None)
    if actor is None:
        return {}
    return {"actor": actor, "memberships": memberships_of(request.user)}
