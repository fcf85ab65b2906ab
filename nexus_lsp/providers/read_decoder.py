"""The SSE events of one network read, decoded in one synchronous pass.

:class:`ReadDecoder` wraps one response's :class:`~nexus_lsp.providers.http.StreamDecoder`
(one per attempt). Per read it returns the stream events merged (neighbouring
text, or reasoning, deltas as one: the session gets one delta per read), logs the
read's chunks as one ``raw.jsonl`` record, and returns (not raises) the error an
event raised, so that what came before it is still emitted. Chunks that are plain
text deltas of the shape learned from an earlier one skip ``json.loads`` (and the
re-serialisation for ``raw.jsonl``): see :mod:`~nexus_lsp.providers.text_template`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from nexus_lsp.core.stream import ReasoningDelta, StreamEvent, TextDelta
from nexus_lsp.errors import ProviderError, ProviderProtocolError
from nexus_lsp.providers.sse import SSEEvent
from nexus_lsp.providers.text_template import TextTemplate

__all__ = ["DONE", "RawChunks", "ReadDecoder"]

log = logging.getLogger(__name__)

DONE = "[DONE]"
LEARN_ATTEMPTS = 16  # per response: a server whose chunks all differ costs no more


class RawChunks(list[Any]):
    """The chunks of one read for ``raw.jsonl``; ``texts[i]``, when not None, is chunk
    i as ``json.dumps(chunk, ensure_ascii=False)`` (made from its template)."""

    def __init__(self, chunks: list[Any], texts: list[str | None]) -> None:
        super().__init__(chunks)
        self.texts = texts


class ReadDecoder:
    def __init__(self, decoder: Any, *, api_name: str, raw: Callable[[str, Any], None] | None,
                 malformed: Callable[[str, str], ProviderProtocolError]) -> None:
        self.decoder = decoder
        self._api_name = api_name
        self._raw = raw
        self._malformed = malformed
        # Decoders that know plain text chunks: plain_text(data) → the text or None,
        # add_text(text) → what feed() gives for such a chunk (see text_template).
        self._plain_text = getattr(decoder, "plain_text", None)
        self._learn = LEARN_ATTEMPTS if self._plain_text is not None else 0
        self._template: TextTemplate | None = None

    def decode(self, events: list[SSEEvent]) -> tuple[list[StreamEvent], ProviderError | None]:
        decoder, template, logging_on = self.decoder, self._template, self._raw is not None
        chunks: list[Any] = []
        texts: list[str | None] = []
        out: list[StreamEvent] = []
        failure: Callable[[], ProviderError] | None = None
        for event in events:
            if decoder.finished:
                break  # nothing after the final event counts
            text = event.data
            if not text:
                continue  # keep-alive
            if template is not None and not event.event:
                value = template.match(text)
                if value is not None:
                    if logging_on:
                        chunks.append(template.data(value))
                        texts.append(template.raw(value))
                    out.append(decoder.add_text(value))
                    continue
            try:
                data = json.loads(text)
            except ValueError:
                if text.strip() != DONE:
                    failure = _later(self._malformed, "a stream event is not JSON", text)
                    break
                data = DONE
            chunks.append(data)
            texts.append(None)
            try:
                found = decoder.feed(event.event, data)
                out += found if type(found) is list else list(found)
            except ProviderError as exc:
                failure = _later(_given, exc)
                break
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                # A shape the decoder did not foresee is the API's fault, not a crash.
                log.exception("%s: cannot decode event %r", self._api_name, event.event)
                failure = _later(self._unexpected, exc, data)
                break
            if self._learn and not event.event:
                value = self._plain_text(data)  # type: ignore[misc]
                if value is not None:
                    self._learn -= 1
                    template = self._template = TextTemplate.learn(
                        text, data, decoder.TEXT_PATH, value)
        if chunks and self._raw is not None:  # logged before the error is made (it logs)
            self._raw("chunks", RawChunks(chunks, texts))
        return (merged(out) if len(out) > 1 else out), (failure() if failure else None)

    def _unexpected(self, exc: Exception, data: Any) -> ProviderProtocolError:
        error = self._malformed(f"unexpected event shape ({exc!r})", json.dumps(data))
        error.__cause__ = exc
        return error


def _later(make: Callable[..., ProviderError], *args: Any) -> Callable[[], ProviderError]:
    return lambda: make(*args)


def _given(error: ProviderError) -> ProviderError:
    return error


def merged(events: list[StreamEvent]) -> list[StreamEvent]:
    """Neighbouring text (or reasoning) deltas as one; tool-call starts stay in place."""
    out: list[StreamEvent] = []
    for event in events:
        last = out[-1] if out else None
        if type(event) is TextDelta and type(last) is TextDelta:
            out[-1] = TextDelta(last.text + event.text)
        elif type(event) is ReasoningDelta and type(last) is ReasoningDelta:
            out[-1] = ReasoningDelta(last.text + event.text)
        else:
            out.append(event)
    return out
