"""Chat messages in OpenAI's shape, checked and rendered into prompt ids by our template (as the evaluator does).

Accepted: an optional leading system (or developer) message, then user and assistant turns alternating, ending
with a user turn. Content is a string or a list of text parts. Anything else is an `InvalidRequest` naming the
message and field (the API answers 400 with it as `param`).
"""

from typing import Any

from ..extras.errors import UserError

SYSTEM_ROLES = ("system", "developer")


class InvalidRequest(UserError):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def message_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise InvalidRequest(f"{where}.content[{index}] is a {kind!r} part; this model reads text parts only "
                                     "({'type': 'text', 'text': ...}).", f"{where}.content")
            texts.append(part["text"])
        return "".join(texts)
    raise InvalidRequest(f"{where}.content must be a string or a list of text parts.", f"{where}.content")


def split_messages(messages: Any) -> tuple[str | None, list[dict[str, str]]]:
    """(system text or None, the user/assistant turns) of a request's messages, checked."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list of {'role', 'content'} objects.", "messages")
    system: str | None = None
    turns: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where} must be an object with role and content.", where)
        role = message.get("role")
        if role in SYSTEM_ROLES:
            if turns or system is not None:
                raise InvalidRequest(f"{where}: a {role} message may only come first.", f"{where}.role")
            system = message_text(message.get("content"), where)
            continue
        if role not in ("user", "assistant"):
            raise InvalidRequest(f"{where}.role {role!r} is not supported: use system, user or assistant.", f"{where}.role")
        expected = "user" if len(turns) % 2 == 0 else "assistant"
        if role != expected:
            raise InvalidRequest(f"{where}.role is {role!r} where {expected!r} was expected: turns alternate user, "
                                 "assistant, ..., and start with user.", f"{where}.role")
        turns.append({"role": role, "content": message_text(message.get("content"), where)})
    if not turns or turns[-1]["role"] != "user":
        raise InvalidRequest("the last message must be a user message: the model answers it.", "messages")
    return system, turns


def render_prompt(template: Any, tokenizer: Any, system: str | None, turns: list[dict[str, str]],
                  default_system: str | None, enable_thinking: bool) -> list[int]:
    """Prompt ids; `system` None means the configured default_system (else the template's own), as in evaluation."""
    return template.encode_prompt(tokenizer, turns, system=system if system is not None else default_system,
                                  enable_thinking=enable_thinking)
