"""Rules → group, priority, tags and fields for a parsed Email."""
from routing.config import Rule, RoutingSettings
from routing.engine import route
from routing.model import Route

__all__ = ["Route", "Rule", "RoutingSettings", "route"]
