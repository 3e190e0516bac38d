"""Several outputs from one step, portably: a DoFn yields (route, value) pairs and
`SplitRoutes` turns that one stream into one PCollection per route.

Beam's own way, `TaggedOutput` with `.with_outputs()`, is broken on the DaskRunner of Beam
2.77: its ParDo translation returns every tagged output in the main output's bag, so a
consumer of the main output also receives the rejects (seen here: reject rows reached the
Parquet writer as documents and failed with KeyError 'doc_id'). A route is an ordinary
element, so every runner carries it the same way; on the others the split steps fuse with
their producer and cost a tuple per element.
"""
from __future__ import annotations

from typing import Any, Iterator

import apache_beam as beam

Routed = tuple[str, Any]


def route(name: str, value: Any) -> Routed:
    """An element bound for the output named `name`."""
    return name, value


def _only(item: Routed, name: str) -> Iterator[Any]:
    if item[0] == name:
        yield item[1]


class SplitRoutes(beam.PTransform):
    """A PCollection of (route, value) -> {route: PCollection of values}, one per name given.

    Steps yield only the route names they declare as constants next to their DoFn, and the
    pipeline's accounting (documents + duplicates + rejects = inputs) would show a value on
    any other route as lost."""

    def __init__(self, *names: str) -> None:
        super().__init__()
        self._names = names

    def expand(self, routed: beam.PCollection) -> dict[str, beam.PCollection]:
        return {name: routed | f"Only{name.title()}" >> beam.FlatMap(_only, name) for name in self._names}
