"""Rules → group, priority, tags and fields for a parsed Email."""
from routing.config import RoutingSettings, Rule
from routing.model import Route

__all__ = ["Route", "Rule", "RoutingSettings"]
