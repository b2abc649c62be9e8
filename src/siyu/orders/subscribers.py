"""What orders do when other domains' events arrive (registered in OrdersConfig.ready())."""

from siyu.customers.events import CustomerIdentified
from siyu.kit.events import subscribe

from .services import orders_match_customer


@subscribe(CustomerIdentified)
def match_waiting_orders(event: CustomerIdentified) -> None:
    # Orders that arrived before the customer (bought in a store, added the guide later) are theirs now.
    orders_match_customer(customer=event.customer, phones=event.phones)
