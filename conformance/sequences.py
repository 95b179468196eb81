"""The stateful test's sequences, generated before they run (cells against a product that takes time).

Why: against a product with windows every event waits, so a sequence is a cell
(conformance/scheduler.py) and many run at once. Hypothesis cannot drive 30 state machines in
threads against one product, but its exploration does not need the product: the generator's
choices look only at the world (names that exist) and at the certificates installed, and a
conforming product installs what the reference model installs. So each shard's examples are drawn
exactly as a serial run draws them (the same state machine, rules, settings, shard seed and
capabilities: performable events only, the pool per sequence, `--unattended` without the events
that need a person), against the reference model seen as the product would show it (only the
kinds it observes), and recorded event by event. The sequences then run as cells and each is
judged by the full oracle on what the product answered; a product that departs from the reference
gets the same events a serial run would most likely have sent it, and every event is judged
wherever it leads.

What this module knows: how to record a shard's sequences. What it does not know: how they run.
"""
from __future__ import annotations

from dataclasses import replace

from hypothesis import seed as hypothesis_seed
from hypothesis.stateful import run_state_machine_as_test

from certconform.conformance.cells import CELL_POOL, SeenReference, synchronous
from certconform.conformance.coverage import Tally


def generation_caps(caps, unattended: bool = False):
    """The capabilities a sequence is generated under (and its cell's driver uses): no waiting,
    at most CELL_POOL devices of a platform (within the product's pool), and with
    --unattended none of the events that need a person."""
    out = synchronous(caps)
    if caps.devices is not None:
        out = replace(out, devices={p: min(n, CELL_POOL) for p, n in caps.devices.items()})
    if unattended and caps.needs_person:
        out = replace(out, events=frozenset(e for e in out.events if e not in caps.needs_person))
    return out


def cell_caps(caps, unattended: bool = False):
    """A sequence cell's driver capabilities: the product's windows, the generator's limits."""
    gen = generation_caps(caps, unattended)
    return replace(caps, devices=gen.devices, events=gen.events)


class GenerationStopped(Exception):
    """The run ended while its sequences were being generated."""


def generate(shard, current, caps, unattended: bool = False, seed=None, stop=None) -> list[tuple[list, list]]:
    """[(events, intended_bad)] of every example the shard's budget draws (`stop`: a
    threading.Event that ends the generation early, raising GenerationStopped)."""
    from certconform.conformance.test_stateful import build_machine

    recorded: list[tuple[list, list]] = []
    reference = SeenReference(caps.observes)
    machine = build_machine(reference, [], False, None, Tally(), {"caps": generation_caps(caps, unattended)})

    class Recording(machine):
        def teardown(self):
            recorded.append((list(self.events), list(self.intended_bad)))
            super().teardown()
            if stop is not None and stop.is_set():
                raise GenerationStopped()

    Recording.__name__ = Recording.__qualname__ = machine.__name__
    chosen = shard.seed if shard.seed is not None else seed
    target = hypothesis_seed(chosen)(Recording) if chosen is not None else Recording
    try:
        run_state_machine_as_test(target, settings=shard.settings(current))
    except GenerationStopped:
        raise
    except BaseException:
        if stop is not None and stop.is_set():
            raise GenerationStopped() from None
        raise
    return recorded
