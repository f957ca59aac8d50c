"""Step 1b: one record of each data format turned into a ``Row``, or a ``RowProblem``.

Formats: ``messages`` (one conversation), ``prompt_completion`` and
``preference`` (a prompt with chosen and rejected answers).
"""

from __future__ import annotations

from typing import Any

from ftgate.train.data.rows import (
    ALLOWED_ROLES,
    EMPTY_TARGET,
    MALFORMED,
    WRONG_ROLE,
    Row,
    RowProblem,
)


def _clean_message(value: Any) -> dict[str, Any] | str:
    """A message with None-valued keys dropped (arrow fills absent struct fields with None), or an error."""
    if not isinstance(value, dict):
        return f"a message must be an object with role and content, got {type(value).__name__}"
    message = {k: v for k, v in value.items() if v is not None}
    role, content = message.get("role"), message.get("content")
    if not isinstance(role, str):
        return "a message has no `role`"
    if "tool_calls" in message:
        if role != "assistant":
            return f"only assistant messages carry `tool_calls`, not the {role!r} message"
        if problem := _tool_calls_problem(message["tool_calls"]):
            return problem
        if content is None:
            # A turn that only calls a tool has no text; the template renders the call.
            message["content"] = content = ""
    if not isinstance(content, str):
        return f"the {role!r} message has no text `content`"
    return message


def _tool_calls_problem(calls: Any) -> str | None:
    if not isinstance(calls, list) or not calls:
        return "`tool_calls` must be a non-empty list"
    for n, call in enumerate(calls, start=1):
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name.strip():
            return f"tool call {n} has no `function.name`"
        arguments = function.get("arguments") if isinstance(function, dict) else None
        if arguments is not None and not isinstance(arguments, (dict, str)):
            return f"tool call {n} ({name}): `function.arguments` must be an object or a JSON string"
    return None


def tool_call_names(message: dict[str, Any]) -> list[str]:
    """The function names an assistant message calls (empty for a plain message)."""
    return [call["function"]["name"] for call in message.get("tool_calls") or ()]


def _clean_messages(value: Any, what: str) -> list[dict[str, Any]] | str:
    if not isinstance(value, list) or not value:
        return f"`{what}` must be a non-empty list of messages"
    out: list[dict[str, Any]] = []
    for item in value:
        message = _clean_message(item)
        if isinstance(message, str):
            return message
        out.append(message)
    return out


def _bad_roles(messages: list[dict[str, Any]], allowed: frozenset[str]) -> str | None:
    bad = sorted({m["role"] for m in messages if m["role"] not in allowed})
    if bad:
        return f"role(s) {', '.join(map(repr, bad))} not allowed here (expected {', '.join(sorted(allowed))})"
    return None


def _normalize_messages(record: dict[str, Any], source: str) -> Row | RowProblem:
    messages = _clean_messages(record.get("messages"), "messages")
    if isinstance(messages, str):
        return RowProblem(source, MALFORMED, messages)
    if problem := _bad_roles(messages, ALLOWED_ROLES):
        return RowProblem(source, WRONG_ROLE, problem)
    if any(m["role"] == "system" for m in messages[1:]):
        return RowProblem(source, WRONG_ROLE, "a system message may only come first")
    if messages[-1]["role"] != "assistant":
        return RowProblem(
            source,
            WRONG_ROLE,
            f"the last message is {messages[-1]['role']!r}; a training example ends with the assistant's answer",
        )
    empty = [i for i, m in enumerate(messages)
             if m["role"] == "assistant" and not m["content"].strip() and not m.get("tool_calls")]
    if empty:
        return RowProblem(source, EMPTY_TARGET, f"assistant message {empty[0] + 1} is empty or whitespace")
    last = len(messages) - 1
    return Row(source, messages[:last], [messages[last:]], messages)


def _normalize_target(
    value: Any, what: str, source: str, *, string_prompt: bool
) -> list[dict[str, Any]] | str | RowProblem:
    if not isinstance(value, (str, list)):
        return RowProblem(source, MALFORMED, f"`{what}` must be text or a list of messages, got {type(value).__name__}")
    if isinstance(value, str):
        if not string_prompt:
            return RowProblem(
                source, MALFORMED, f"`{what}` is text but the prompt is a list of messages; use the same form for both"
            )
        if not value.strip():
            return RowProblem(source, EMPTY_TARGET, f"`{what}` is empty or whitespace")
        return value
    if string_prompt:
        return RowProblem(
            source, MALFORMED, f"`{what}` is a list of messages but the prompt is text; use the same form for both"
        )
    messages = _clean_messages(value, what)
    if isinstance(messages, str):
        return RowProblem(source, MALFORMED, messages)
    if problem := _bad_roles(messages, frozenset({"assistant"})):
        return RowProblem(source, WRONG_ROLE, f"`{what}`: {problem}")
    if any(not m["content"].strip() and not m.get("tool_calls") for m in messages):
        return RowProblem(source, EMPTY_TARGET, f"`{what}` has an empty or whitespace assistant message")
    return messages


def _normalize_prompt(value: Any, source: str) -> list[dict[str, Any]] | str | RowProblem:
    if not isinstance(value, (str, list)):
        return RowProblem(source, MALFORMED, f"`prompt` must be text or a list of messages, got {type(value).__name__}")
    if isinstance(value, str):
        if not value.strip():
            return RowProblem(source, MALFORMED, "`prompt` is empty")
        return value
    messages = _clean_messages(value, "prompt")
    if isinstance(messages, str):
        return RowProblem(source, MALFORMED, messages)
    if problem := _bad_roles(messages, ALLOWED_ROLES):
        return RowProblem(source, WRONG_ROLE, f"`prompt`: {problem}")
    if messages[-1]["role"] == "assistant":
        return RowProblem(
            source, WRONG_ROLE, "`prompt` ends with an assistant message; the answer belongs in the completion"
        )
    return messages


def _normalize_prompt_completion(record: dict[str, Any], source: str) -> Row | RowProblem:
    prompt = _normalize_prompt(record.get("prompt"), source)
    if isinstance(prompt, RowProblem):
        return prompt
    target = _normalize_target(record.get("completion"), "completion", source, string_prompt=isinstance(prompt, str))
    if isinstance(target, RowProblem):
        return target
    return Row(source, prompt, [target])


def _normalize_preference(record: dict[str, Any], source: str) -> Row | RowProblem:
    prompt = _normalize_prompt(record.get("prompt"), source)
    if isinstance(prompt, RowProblem):
        return prompt
    targets = []
    for what in ("chosen", "rejected"):
        target = _normalize_target(record.get(what), what, source, string_prompt=isinstance(prompt, str))
        if isinstance(target, RowProblem):
            return target
        targets.append(target)
    if targets[0] == targets[1]:
        return RowProblem(
            source, EMPTY_TARGET, "`chosen` and `rejected` are identical, so the pair carries no preference"
        )
    return Row(source, prompt, targets)


NORMALIZERS = {
    "messages": _normalize_messages,
    "prompt_completion": _normalize_prompt_completion,
    "preference": _normalize_preference,
}
