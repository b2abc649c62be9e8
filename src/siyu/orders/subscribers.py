"""What orders do when other domains' events arrive (registered in OrdersConfig.ready())."""

from siyu.customers.events import CustomersIdentified
from siyu.kit.events import subscribe

from .services import orders_match_customers


@subscribe(CustomersIdentified)
def match_waiting_orders(event: CustomersIdentified) -> None:
    # Orders that arrived before the customer (bought in a store, added the guide later) are theirs now.
    orders_match_customers(corp_id=event.corp_id, customers=event.customers, phones=event.phones)
