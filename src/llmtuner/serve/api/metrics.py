"""Prometheus metrics of one app, in its own CollectorRegistry: two apps in one process (tests, a benchmark)
never share or clash, and nothing is registered globally at import.

Labels are bounded: routes are the app's path templates (an unknown path counts as "unmatched"), models are
the served names, statuses and finish reasons are small sets. Nothing derived from request text is a label.
"""

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
FIRST_TOKEN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ApiMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, queue_depth: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter("llmtuner_requests", "HTTP requests answered, by route and status.",
                                ["route", "status"], registry=registry)
        self.latency = Histogram("llmtuner_request_latency_seconds", "Time from a request's arrival to the end of "
                                 "its response (streams included).", ["route"], buckets=LATENCY_BUCKETS, registry=registry)
        self.first_token = Histogram("llmtuner_time_to_first_token_seconds", "Time from submitting a generation to its "
                                     "first text.", ["model"], buckets=FIRST_TOKEN_BUCKETS, registry=registry)
        self.prompt_tokens = Counter("llmtuner_prompt_tokens", "Prompt tokens of submitted generations.", ["model"],
                                     registry=registry)
        self.completion_tokens = Counter("llmtuner_completion_tokens", "Tokens generated (cancelled generations' "
                                         "too).", ["model"], registry=registry)
        self.generations = Counter("llmtuner_generations", "Finished generations, by finish reason (stop, length, "
                                   "cancelled, error).", ["model", "finish_reason"], registry=registry)
        self.running = Gauge("llmtuner_generations_running", "Generations submitted to the engine and not finished "
                             "(waiting or being generated).", registry=registry)
        self.queue_depth = Gauge("llmtuner_queue_depth", "Generations waiting for a batch.", registry=registry)
        self.queue_depth.set_function(queue_depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)
