"""Points (积分): an account per customer and the append-only ledger that moves it.

The account holds what the entries add up to: `available` (spendable) and `pending` (earned from
orders, spendable once their refund window has passed). Each entry records its change to both
and the balances after it, so the ledger reads as a statement. Earned points are kept in lots
(`remaining` on the earning entry) that spends consume soonest-expiring first, so expiry takes
exactly what was not spent. An entry's (source, source_id) is its idempotency key: the same
check-in, order or exchange moves points once, however often it is submitted.
"""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.kit.tenancy import CorpOwned


class PointsAccount(CorpOwned):
    customer = models.OneToOneField("customers.Customer", primary_key=True, on_delete=models.CASCADE, related_name="points")
    available = models.BigIntegerField(default=0)
    pending = models.BigIntegerField(default=0)
    # Points earned in all, less what refunds took back: the growth that membership levels count.
    earned = models.BigIntegerField(default=0)
    level = models.ForeignKey("MemberLevel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False)
    level_since = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            # The last line of "never negative": the services check under the account's lock first.
            models.CheckConstraint(condition=Q(available__gte=0), name="points_available_not_negative"),
            models.CheckConstraint(condition=Q(pending__gte=0), name="points_pending_not_negative"),
        ]


REASONS = {
    "order": _("Purchase"),
    "checkin": _("Check-in"),
    "checkin_stage": _("Check-in reward"),
    "contact_added": _("Added an advisor"),
    "group_joined": _("Joined a group"),
    "content_read": _("Read content"),
    "task": _("Campaign task"),
    "exchange": _("Points mall"),
    "exchange_refund": _("Points mall exchange cancelled"),
    "lottery": _("Lottery"),
    "journey": _("Journey reward"),
    "game": _("Group game"),
    "manual": _("Adjusted by the brand"),
    "expiry": _("Expired"),
    "refund": _("Refund"),
}


class PointsEntry(CorpOwned):
    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        PENDING = "pending", _("Earned, pending")
        RELEASE = "release", _("Became available")
        SPEND = "spend", _("Spent")
        VOID = "void", _("Voided")
        EXPIRE = "expire", _("Expired")
        ADJUST = "adjust", _("Adjusted")

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    reason = models.CharField(max_length=32, help_text="checkin, order, group_joined, contact_added, content_read, task, exchange, lottery, manual …")
    points = models.BigIntegerField(help_text="change to the available balance")
    pending_change = models.BigIntegerField(default=0, help_text="change to the pending balance")
    available_after = models.BigIntegerField()
    pending_after = models.BigIntegerField()
    source = models.CharField(max_length=32)
    source_id = models.CharField(max_length=64)
    at = models.DateTimeField()
    # Lots: an earning entry's points not yet spent, voided or expired, and when they expire.
    remaining = models.BigIntegerField(default=0)
    expires_on = models.DateField(null=True, blank=True)
    # A pending entry: when it becomes available, and when it did.
    available_on = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True, default="")
    by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="who adjusted by hand")

    @property
    def reason_label(self) -> str:
        return str(REASONS.get(self.reason, self.reason))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["corp", "source", "source_id"], name="points_entry_once"),
            models.CheckConstraint(
                condition=Q(remaining=0) | (Q(remaining__gt=0) & Q(remaining__lte=F("points") + F("pending_change"))), name="points_lot_within_entry"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "at"]),
            # The lots a spend consumes and the expiry pass reads: only those with points left.
            models.Index(fields=["customer", "expires_on"], condition=Q(remaining__gt=0), name="points_open_lots"),
            models.Index(fields=["corp", "available_on"], condition=Q(kind="pending", released_at__isnull=True), name="points_pending_due"),
        ]


class WechatVisitor(CorpOwned):
    """Someone who opened a customer page in WeChat, as the brand's Official Account knows them
    (openid; unionid when the open platform is bound). `customer` once WeCom says they are one;
    until then WeCom's pending_id, which WeCom later maps to their external_userid."""

    openid = models.CharField(max_length=64)
    unionid = models.CharField(max_length=64, blank=True, default="")
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    pending_id = models.CharField(max_length=64, blank=True, default="")
    nickname = models.CharField(max_length=64, blank=True, default="")
    avatar = models.URLField(max_length=500, blank=True, default="")
    # Bumped to end every session this visitor holds (a customer merged away, a phone lost).
    session_epoch = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "openid"], name="wechatvisitor_unique_openid")]
        indexes = [models.Index(fields=["corp", "unionid"]), models.Index(fields=["customer"])]


class ContentView(CorpOwned):
    """One opening of a library item's page: who (the visitor, and the customer when known), from
    whose link and which send, from whose shared copy, and how long and how far they read (the
    page reports dwell and scroll while it is open, by its secret `key`)."""

    item = models.ForeignKey("messaging.ContentItem", on_delete=models.CASCADE, related_name="+")
    visitor = models.ForeignKey(WechatVisitor, on_delete=models.CASCADE, related_name="views")
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    staff = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="whose link it was")
    via = models.CharField(max_length=16, blank=True, default="", help_text="the send: m12 mass send, o3 moment, w welcome, s sidebar, t7 task")
    shared_by = models.ForeignKey(WechatVisitor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    opened_at = models.DateTimeField()
    dwell_seconds = models.PositiveIntegerField(default=0)
    scroll_percent = models.PositiveSmallIntegerField(default=0)
    key = models.CharField(max_length=32, unique=True)

    class Meta:
        indexes = [models.Index(fields=["corp", "item", "opened_at"]), models.Index(fields=["customer", "opened_at"])]


class InterestRule(CorpOwned):
    """Reading makes interest: a customer who has read `reads` different items carrying the
    library tag `content_tag` gets the customer tag `tag` (read 3 items tagged 辅食 → 关注辅食)."""

    content_tag = models.CharField(max_length=16)
    reads = models.PositiveSmallIntegerField(default=3)
    tag = models.ForeignKey("tags.Tag", on_delete=models.CASCADE, related_name="+")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "content_tag", "tag"], name="interestrule_unique")]


class MemberLevel(CorpOwned):
    """A membership level (会员等级). A customer holds the highest-ranked level whose rule their
    spend (what their orders paid less refunds), their counted orders and the points they earned
    meet: any one of the thresholds set, or all of them, as the level says. A level without
    thresholds is everyone's."""

    class Needs(models.TextChoices):
        ANY = "any", _("Any one of the thresholds")
        ALL = "all", _("All of the thresholds")

    name = models.CharField(max_length=20)
    rank = models.PositiveSmallIntegerField(help_text="1 is the first level; higher ranks are higher levels")
    min_spend_fen = models.BigIntegerField(null=True, blank=True)
    min_orders = models.PositiveIntegerField(null=True, blank=True)
    min_points = models.BigIntegerField(null=True, blank=True)
    needs = models.CharField(max_length=3, choices=Needs.choices, default=Needs.ANY)
    benefits = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["corp", "rank"], name="memberlevel_rank_once"),
            models.UniqueConstraint(fields=["corp", "name"], name="memberlevel_name_once"),
        ]

    def __str__(self) -> str:
        return self.name


class PointsPolicy(CorpOwned):
    """How customers earn points, one per corp. Orders paid from `since` on earn `per_yuan` a whole
    yuan, pending for `refund_days`; adding a staff member, joining a group and reading content
    earn fixed amounts (reading at most `content_read_daily` times a day). Earned points expire
    never, at the end of the year after the one they were earned in, or after `expiry_months`."""

    class Expiry(models.TextChoices):
        NEVER = "never", _("Never")
        YEAR_END = "year_end", _("At the end of the following year")
        MONTHS = "months", _("After some months")

    active = models.BooleanField(default=False)
    since = models.DateTimeField(null=True, blank=True, help_text="orders paid from then on earn (history imported later does not)")
    per_yuan = models.PositiveIntegerField(default=1)
    refund_days = models.PositiveSmallIntegerField(default=7)
    contact_added = models.PositiveIntegerField(default=0)
    group_joined = models.PositiveIntegerField(default=0)
    content_read = models.PositiveIntegerField(default=0)
    content_read_daily = models.PositiveSmallIntegerField(default=3)
    expiry = models.CharField(max_length=8, choices=Expiry.choices, default=Expiry.YEAR_END)
    expiry_months = models.PositiveSmallIntegerField(default=12)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp"], name="pointspolicy_one_per_corp")]


class CheckinCampaign(CorpOwned):
    """Daily check-in (签到/打卡): points each day, reward stages at N days (consecutive, or in
    all), and optionally a day's content for each day of a 21-day play."""

    class Counting(models.TextChoices):
        STREAK = "streak", _("Consecutive days")
        TOTAL = "total", _("Days in all")

    name = models.CharField(max_length=32)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    daily_points = models.PositiveIntegerField(default=0)
    counting = models.CharField(max_length=6, choices=Counting.choices, default=Counting.STREAK)
    stages = models.JSONField(default=list, blank=True, help_text='[{"days": 7, "points": 50, "coupon_template_id": 3}, …]')
    day_items = models.JSONField(default=list, blank=True, help_text="library item ids: the content of day 1, 2, …")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Checkin(CorpOwned):
    """One customer's check-in on one of the corp's days: the streak and the count after it."""

    campaign = models.ForeignKey(CheckinCampaign, on_delete=models.CASCADE, related_name="checkins")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    streak = models.PositiveIntegerField()
    total = models.PositiveIntegerField()
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "customer", "day"], name="checkin_once_a_day")]
        indexes = [models.Index(fields=["campaign", "day"])]


class CheckinReward(CorpOwned):
    """A reward stage reached: paid once per campaign, customer and stage."""

    campaign = models.ForeignKey(CheckinCampaign, on_delete=models.CASCADE, related_name="rewards")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    days = models.PositiveIntegerField()
    points = models.PositiveIntegerField(default=0)
    coupon = models.ForeignKey("engagement.Coupon", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "customer", "days"], name="checkin_stage_once")]


class CouponTemplate(CorpOwned):
    """What a coupon is worth and the rules of getting one: 满减 (amount off above a threshold), a
    discount, an amount off with no threshold, or a gift; valid between fixed dates or N days
    after it is claimed; a stock, a per-person limit, and a window in which customers may claim it
    on a page (the last N hours of an offer are its window's end)."""

    class Kind(models.TextChoices):
        AMOUNT_OFF = "amount_off", _("Amount off above a threshold")
        DISCOUNT = "discount", _("Discount")
        NO_THRESHOLD = "no_threshold", _("Amount off, no threshold")
        GIFT = "gift", _("Gift")

    name = models.CharField(max_length=32)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    threshold_fen = models.PositiveBigIntegerField(default=0)
    amount_fen = models.PositiveBigIntegerField(default=0)
    pay_percent = models.PositiveSmallIntegerField(default=100, help_text="a discount: the share paid, 85 = 8.5折")
    gift = models.CharField(max_length=64, blank=True, default="")
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    valid_days = models.PositiveSmallIntegerField(null=True, blank=True, help_text="days after claiming, instead of fixed dates")
    stock = models.PositiveIntegerField(null=True, blank=True, help_text="how many may ever be issued (none: no limit)")
    issued = models.PositiveIntegerField(default=0)
    per_person = models.PositiveSmallIntegerField(default=1)
    claimable = models.BooleanField(default=False, help_text="customers may claim it on a page")
    claim_starts_at = models.DateTimeField(null=True, blank=True)
    claim_ends_at = models.DateTimeField(null=True, blank=True)
    show_left_below = models.PositiveIntegerField(null=True, blank=True, help_text="show “only N left” when fewer remain")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(stock__isnull=True) | Q(issued__lte=F("stock")), name="coupon_stock_never_oversold")]

    def __str__(self) -> str:
        return self.name


class Coupon(CorpOwned):
    """One coupon a customer holds. Issued once per (source, source_id); redeemed once, with an
    order (online) or in a store by a guide; a full refund of its order gives it back."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Usable")
        REDEEMED = "redeemed", _("Redeemed")
        EXPIRED = "expired", _("Expired")
        VOID = "void", _("Void")

    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="coupons")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=16)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    source = models.CharField(max_length=16, help_text="claim, segment, journey, checkin, mall, lottery, game, manual")
    source_id = models.CharField(max_length=64)
    issued_at = models.DateTimeField()
    valid_from = models.DateField()
    valid_until = models.DateField()
    redeemed_at = models.DateTimeField(null=True, blank=True)
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    store = models.CharField(max_length=64, blank=True, default="")
    staff = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="who verified it in store")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["corp", "code"], name="coupon_unique_code"),
            models.UniqueConstraint(fields=["corp", "source", "source_id"], name="coupon_issued_once"),
        ]
        indexes = [models.Index(fields=["customer", "template"]), models.Index(fields=["template", "status"])]


class MallItem(CorpOwned):
    """Something customers exchange points for (积分商城): a coupon, goods (shipped, or picked up in a
    store), or a benefit. `sold` never passes `stock` (a CHECK, and the exchange's conditional
    update before it)."""

    class Kind(models.TextChoices):
        COUPON = "coupon", _("Coupon")
        GOODS = "goods", _("Goods")
        BENEFIT = "benefit", _("Benefit")

    class Delivery(models.TextChoices):
        NONE = "none", _("Nothing to deliver")
        SHIP = "ship", _("Shipped")
        PICKUP = "pickup", _("Picked up in store")

    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=32)
    description = models.CharField(max_length=200, blank=True, default="")
    image = models.ForeignKey("messaging.Media", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    points = models.PositiveIntegerField()
    cash_fen = models.PositiveBigIntegerField(default=0, help_text="paid besides the points, through the brand's own order")
    coupon_template = models.ForeignKey(CouponTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    delivery = models.CharField(max_length=6, choices=Delivery.choices, default=Delivery.NONE)
    stock = models.PositiveIntegerField(null=True, blank=True)
    sold = models.PositiveIntegerField(default=0)
    per_person = models.PositiveSmallIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(stock__isnull=True) | Q(sold__lte=F("stock")), name="mall_never_oversold")]

    def __str__(self) -> str:
        return self.name


class MallOrder(CorpOwned):
    """One exchange: the points it took, what it gave (a coupon) or what is to be delivered."""

    class Status(models.TextChoices):
        AWAITING = "awaiting", _("To pay")
        PLACED = "placed", _("To deliver")
        SHIPPED = "shipped", _("Shipped")
        PICKED_UP = "picked_up", _("Picked up")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    item = models.ForeignKey(MallItem, on_delete=models.PROTECT, related_name="orders")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64, help_text="the exchange's idempotency key: a second submit finds the first")
    points = models.PositiveIntegerField()
    cash_fen = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices)
    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    address = models.JSONField(default=dict, blank=True, help_text="name, phone, address for goods shipped")
    pickup_code = models.CharField(max_length=16, blank=True, default="")
    # Points plus cash: the cash is paid through the brand's own order, which names this code.
    pay_code = models.CharField(max_length=16, blank=True, default="")
    pay_by = models.DateTimeField(null=True, blank=True)
    paid_order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False)
    tracking_no = models.CharField(max_length=64, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    staff = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="who handed it over in store")
    store = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "key"], name="mall_order_once")]
        indexes = [
            models.Index(fields=["item", "customer"]),
            models.Index(fields=["corp", "status", "created_at"]),
            models.Index(fields=["corp", "pay_code"], condition=~Q(pay_code=""), name="mall_order_pay_code"),
            models.Index(fields=["pay_by"], condition=Q(status="awaiting"), name="mall_order_awaiting"),
        ]


class Lottery(CorpOwned):
    """A lottery campaign (抽奖): a wheel or a scratch card, its window, per-person draw limits and an
    optional points cost. Its prizes' odds are shown as they are run."""

    class Kind(models.TextChoices):
        WHEEL = "wheel", _("Wheel")
        SCRATCH = "scratch", _("Scratch card")

    name = models.CharField(max_length=32)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.WHEEL)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    points_cost = models.PositiveIntegerField(default=0)
    draws_per_day = models.PositiveSmallIntegerField(default=1)
    draws_total = models.PositiveIntegerField(null=True, blank=True)
    show_winners = models.BooleanField(default=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class LotteryPrize(CorpOwned):
    """A prize and its chance in a million per draw; a draw that lands on it after its stock or its
    day's cap is gone wins nothing (the chance of the others is not raised)."""

    class Kind(models.TextChoices):
        COUPON = "coupon", _("Coupon")
        POINTS = "points", _("Points")
        GOODS = "goods", _("Goods, handed over in store")

    lottery = models.ForeignKey(Lottery, on_delete=models.CASCADE, related_name="prizes")
    name = models.CharField(max_length=32)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    per_million = models.PositiveIntegerField(help_text="the chance per draw, in parts per million")
    stock = models.PositiveIntegerField(null=True, blank=True)
    daily_cap = models.PositiveIntegerField(null=True, blank=True)
    awarded = models.PositiveIntegerField(default=0)
    coupon_template = models.ForeignKey(CouponTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    points = models.PositiveIntegerField(default=0)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(stock__isnull=True) | Q(awarded__lte=F("stock")), name="lottery_prize_within_stock")]


class LotteryPrizeDay(CorpOwned):
    """How many of a prize went on one of the corp's days: its daily cap's counter."""

    prize = models.ForeignKey(LotteryPrize, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    awarded = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prize", "day"], name="lottery_prize_day_unique")]


class LotteryEntrant(CorpOwned):
    """A customer's draws in one lottery. Its row is locked by each draw, so one customer's draws
    (two taps, two tabs) run one after the other and the limits hold."""

    lottery = models.ForeignKey(Lottery, on_delete=models.CASCADE, related_name="entrants")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    draws = models.PositiveIntegerField(default=0)
    day = models.DateField(null=True, blank=True)
    draws_that_day = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lottery", "customer"], name="lottery_entrant_unique")]


class LotteryDraw(CorpOwned):
    lottery = models.ForeignKey(Lottery, on_delete=models.CASCADE, related_name="draws")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    prize = models.ForeignKey(LotteryPrize, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    prize_code = models.CharField(max_length=16, blank=True, default="", help_text="a prize handed over in store")
    handed_over_at = models.DateTimeField(null=True, blank=True)
    staff = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "key"], name="lottery_draw_once")]
        indexes = [models.Index(fields=["lottery", "at"])]


class GroupGame(CorpOwned):
    """A game played in a customer group from a page shared there (seed 002's group games).

    - Dice (掷骰子): the host sets a number; each player rolls the game's dice up to `rolls_each`
      times, and the first whose dice add up to the number wins the prize (points and/or a coupon).
    - A red envelope (拼手气红包): a capped pool of points split at random into `envelopes` parts
      when the game is made; each player opens one, first come first served, until none is left.
    """

    class Kind(models.TextChoices):
        DICE = "dice", _("Dice: first to roll the number wins")
        ENVELOPE = "envelope", _("Red envelope: a capped pool of points")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        WON = "won", _("Won")
        EMPTY = "empty", _("All opened")
        STOPPED = "stopped", _("Stopped")

    name = models.CharField(max_length=32)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    host = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    group = models.ForeignKey("groups.CustomerGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # Dice
    dice = models.PositiveSmallIntegerField(default=1)
    target = models.PositiveSmallIntegerField(null=True, blank=True)
    rolls_each = models.PositiveSmallIntegerField(default=3)
    prize_points = models.PositiveIntegerField(default=0)
    prize_coupon = models.ForeignKey(CouponTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    winner = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    won_at = models.DateTimeField(null=True, blank=True)
    # Red envelope
    total_points = models.PositiveIntegerField(default=0)
    amounts = models.JSONField(default=list, blank=True, help_text="the envelopes' points, in the order they are opened")
    opened = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(opened__gte=0), name="group_game_opened_not_negative")]

    def __str__(self) -> str:
        return self.name


class GamePlay(CorpOwned):
    """One roll of the dice, or one envelope opened: keyed by the page (two taps are one play), and
    numbered per player (`n`), so a player's rolls stay within the game's limit and an envelope is
    opened once per player, also from two tabs."""

    game = models.ForeignKey(GroupGame, on_delete=models.CASCADE, related_name="plays")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    n = models.PositiveSmallIntegerField()
    rolled = models.JSONField(default=list, blank=True)
    points = models.PositiveIntegerField(default=0)
    won = models.BooleanField(default=False)
    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["corp", "key"], name="game_play_once"),
            models.UniqueConstraint(fields=["game", "customer", "n"], name="game_play_numbered"),
        ]
        indexes = [models.Index(fields=["game", "at"])]


class PointsTask(CorpOwned):
    """A task customers complete for a reward (积分任务): read an item (or any), share an item a
    friend then opens, join one of the brand's groups, or pay an order. Each customer completes a
    task once, from its start on."""

    class Kind(models.TextChoices):
        READ = "read", _("Read content")
        SHARE = "share", _("Share content a friend opens")
        JOIN_GROUP = "join_group", _("Join a customer group")
        ORDER = "order", _("Pay an order")

    name = models.CharField(max_length=32)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    item = models.ForeignKey(
        "messaging.ContentItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="read or share: this item (else any)"
    )
    points = models.PositiveIntegerField(default=0)
    coupon_template = models.ForeignKey(CouponTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class TaskDone(CorpOwned):
    """A customer's completion of a points task: once (a unique row), with what it paid."""

    task = models.ForeignKey(PointsTask, on_delete=models.CASCADE, related_name="completions")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    points = models.PositiveIntegerField(default=0)
    coupon = models.ForeignKey(Coupon, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "customer"], name="task_done_once")]
