from django import template

register = template.Library()


@register.filter
def yuan(fen) -> str:
    """Money is kept in fen (integers); operators read yuan."""
    if fen is None or fen == "":
        return "—"
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(round(fen))), 100)
    return f"{sign}{whole:,}.{cents:02d}"


@register.filter
def percent(ratio) -> str:
    return "—" if ratio is None else f"{ratio * 100:.1f}%"
