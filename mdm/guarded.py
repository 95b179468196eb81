"""GuardedAdapter: any adapter behind a per-call deadline, with its failures named as adapter errors.

What this module knows: the adapter contract's calls (reset, apply, observe and the optional
capabilities) and which of apply()'s exceptions are contract answers (ValueError: bad input,
EventRejected: refused). Every other exception, and every call that does not return within the
deadline, becomes an `AdapterError` whose message is one line starting `[contract: CONTRACT]`
and naming the call (with its event) -- the reports score those as verdict `error`, not `fail`.
What it does not know: what the calls' answers mean (steps/driver.py and model/oracle.py judge).

How the deadline works, in the main thread on a POSIX system (where pytest runs tests, xdist
workers included): the call runs in the caller's thread under a real-time timer (`signal.setitimer`);
when the deadline passes, SIGALRM interrupts it (a Python loop, a sleep, a socket read or a lock
wait all are interruptible) and the call ends as CallTimeout. This costs a few microseconds a
call; the thread hand-off below costs about 100 us a call, which doubled the stateful test's
time. It is used only while SIGALRM is free (another plugin such as pytest-timeout may own it).
The handler is swapped in and out around each call, except inside `alarm_kept()` (the stateful
test's state machine runs there), which installs it once for the whole block.
Code that never returns to the interpreter (a C extension spinning) cannot be interrupted this
way: `mode="thread"` (or a caller outside the main thread) uses the worker thread instead.

Otherwise every call runs in ONE dedicated daemon worker thread (the same thread
every time, so an adapter that keeps thread-bound handles keeps working; the adapter is even
constructed there by `GuardedAdapter.build`); the caller waits for it at most `timeout` seconds.
A Python thread cannot be killed, so a call that does not return is abandoned, not stopped:
  * the adapter is then considered broken while that call is still running: every further call
    fails AT ONCE naming the hung call, instead of queueing behind it (which would make every
    later test wait a full deadline, or forever);
  * if the abandoned call returns later (a slow server that finally answers), the adapter is
    usable again; every test starts with reset(), so the late call cannot leak into a verdict.
The worker is a daemon thread, so a hung call never keeps the process alive at exit (Ctrl-C and
fail-fast still end the run and write the reports).
An adapter whose calls enforce their own deadline (the HTTP adapter: urllib3 times out after the
same number of seconds and raises TimeoutError) gets `grace` extra seconds, so its own, more
precise, answer normally arrives first. A TimeoutError raised by any adapter counts as a timeout.
`timeout` None or 0 turns the guard off: calls run in the caller's thread (for debuggers).
"""
from __future__ import annotations

import json
import queue
import signal
import threading
import time
from contextlib import contextmanager

from certconform.mdm import EventRejected

DEFAULT_CALL_TIMEOUT = 30.0  # seconds; see docs/running.md, "Timeouts, fail-fast and adapter errors", for why
HTTP_GRACE = 1.0  # extra seconds for an adapter that enforces the deadline itself
PREFIX = "[contract: CONTRACT]"
MAX_EVENT_TEXT = 160


GUARDED_OPTIONAL = ("capabilities", "observe_since", "awaiting_person", "release")  # optional calls, guarded like the contract's


class AdapterError(Exception):
    """The implementation crashed, hung or is still stuck in an earlier call (verdict error).
    str() is one line: '[contract: CONTRACT] apply({...}) ...'."""


class CallTimeout(AdapterError):
    """A call did not return within the deadline."""


class AdapterCrash(AdapterError):
    """A call raised an exception the contract does not allow."""


class AdapterBusy(AdapterError):
    """A call was not attempted: an earlier one that timed out is still running."""


class _Alarm(BaseException):
    """Raised by SIGALRM in the main thread when a call passes its deadline (a BaseException, so
    an adapter's own `except Exception` cannot swallow it)."""


def _on_alarm(signum, frame):
    raise _Alarm()


def _alarm_usable() -> bool:
    """True in the main thread of a POSIX process whose SIGALRM nobody else has claimed."""
    return (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, _on_alarm))


_KEPT = [0]  # > 0 while alarm_kept() holds SIGALRM for the guard


@contextmanager
def alarm_kept():
    """Within this block (entered in the main thread), the deadline's SIGALRM handler stays
    installed between calls instead of being swapped in and out around each one (two handler
    swaps cost ~4 us a call; the stateful test makes ~40,000 calls); on exit the handler SIGALRM
    had before is put back. Whether SIGALRM is free is checked once, on entry: a plugin that
    claims it per test (pytest-timeout) has done so by then. Elsewhere nothing changes."""
    if not _alarm_usable():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    _KEPT[0] += 1
    try:
        yield
    finally:
        _KEPT[0] -= 1
        signal.signal(signal.SIGALRM, previous)


def describe_call(name: str, args: tuple = ()) -> str:
    """'apply({"type": "wipe", "device": "d1"})', cut to a readable length."""
    if not args:
        return f"{name}()"
    try:
        text = json.dumps(args[0], default=repr)
    except (TypeError, ValueError):
        text = repr(args[0])
    if len(text) > MAX_EVENT_TEXT:
        text = text[:MAX_EVENT_TEXT - 4] + " ..." + text[-1:]
    return f"{name}({text})"


class _Described:
    """describe_call(name, args), computed when first turned into text (an f-string or str())."""
    __slots__ = ("name", "args", "_text")

    def __init__(self, name: str, args: tuple):
        # a shallow copy of an event dict: an adapter that changes its argument and then crashes
        # is still reported with the event as it was sent
        if args and isinstance(args[0], dict):
            args = (dict(args[0]), *args[1:])
        self.name, self.args, self._text = name, args, None

    def __str__(self) -> str:
        if self._text is None:
            self._text = describe_call(self.name, self.args)
        return self._text

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Job:
    __slots__ = ("fn", "args", "what", "done", "result", "error", "started")

    def __init__(self, fn, args, what):
        self.fn, self.args, self.what = fn, args, what
        self.done = threading.Event()
        self.result = self.error = None
        self.started = time.monotonic()

    def run(self) -> None:
        try:
            self.result = self.fn(*self.args)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            self.error = exc
        finally:
            self.done.set()


class _Worker:
    """One daemon thread that runs the adapter's calls, one at a time."""

    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="certconform-adapter", daemon=True).start()

    def _loop(self) -> None:
        while True:
            self._jobs.get().run()

    def submit(self, job: _Job) -> None:
        self._jobs.put(job)


class GuardedAdapter:
    """Wraps an adapter: the same calls, each under the deadline, with AdapterError for crashes."""

    def __init__(self, adapter, timeout: float | None = DEFAULT_CALL_TIMEOUT, grace: float = 0.0,
                 _worker: _Worker | None = None, mode: str = "auto"):
        """`mode`: "auto" (a timer signal where usable, else the worker thread) or "thread"."""
        if mode not in ("auto", "thread"):
            raise ValueError(f"mode must be 'auto' or 'thread', not {mode!r}")
        self.adapter = adapter
        self.timeout = timeout if timeout and timeout > 0 else None
        self.grace = grace
        self.mode = mode
        self._worker = _worker
        self._hung: _Job | None = None  # the call that timed out, while it is still running

    @classmethod
    def build(cls, factory, timeout: float | None = DEFAULT_CALL_TIMEOUT, grace: float = 0.0) -> "GuardedAdapter":
        """Construct the adapter with `factory()` in the worker thread, under the deadline. The
        factory's own exceptions propagate unchanged (e.g. AdapterSpecError); a constructor that
        hangs raises CallTimeout."""
        guard = cls(None, timeout, grace)
        guard.adapter = guard._call("the adapter's constructor", factory, ())
        return guard

    # ------------------------------------------------------------------ the contract's calls
    def reset(self) -> None:
        self._guarded("reset", ())

    def apply(self, event: dict) -> None:
        self._guarded("apply", (event,), passes=(ValueError, EventRejected))

    def observe(self):
        return self._guarded("observe", ())

    def __getattr__(self, name: str):
        """capabilities(), observe_since() and awaiting_person() (optional) are guarded when the
        adapter has them; other attributes (close, ...) are the adapter's own."""
        adapter = self.__dict__.get("adapter")
        value = getattr(adapter, name)
        if name in GUARDED_OPTIONAL and callable(value):
            return lambda *args: self._guarded(name, args)
        return value

    def __repr__(self) -> str:
        return f"GuardedAdapter({self.adapter!r}, timeout={self.timeout})"

    # ------------------------------------------------------------------ plumbing
    def _guarded(self, name: str, args: tuple, passes: tuple = ()):
        # The call's description is built only when a message needs it (json.dumps of the event
        # on every call was ~3 us of a 6 us guard; the stateful test makes ~40,000 calls).
        what = _Described(name, args)
        try:
            return self._call(what, getattr(self.adapter, name), args)
        except AdapterError:
            raise
        except passes:
            raise
        except TimeoutError as exc:  # the adapter's own deadline (HttpAdapter's urllib3 timeout)
            detail = " ".join(str(exc).split())
            if self.timeout:  # the deadline it enforces is --call-timeout: worded as the guard's own
                raise CallTimeout(f"{PREFIX} {what} did not return within {self.timeout:g} s (--call-timeout): "
                                  f"{detail}") from None
            raise CallTimeout(f"{PREFIX} {what} timed out ({detail})") from None
        except Exception as exc:
            raise AdapterCrash(f"{PREFIX} {what} raised {_one_line(exc)}") from None

    def _call(self, what: str, fn, args: tuple):
        if self.timeout is None:
            return fn(*args)
        if self.mode == "auto" and self._hung is None:
            if _KEPT[0] and threading.current_thread() is threading.main_thread():
                return self._call_under_alarm(what, fn, args, swap=False)  # alarm_kept() installed it
            if _alarm_usable():
                return self._call_under_alarm(what, fn, args)
        return self._call_in_worker(what, fn, args)

    def _call_under_alarm(self, what: str, fn, args: tuple, swap: bool = True):
        previous = signal.signal(signal.SIGALRM, _on_alarm) if swap else None
        try:
            try:
                signal.setitimer(signal.ITIMER_REAL, self.timeout + self.grace)
                return fn(*args)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _Alarm:  # (also when it fired just as the call returned: the call took the whole deadline)
            raise CallTimeout(f"{PREFIX} {what} did not return within {self.timeout:g} s (--call-timeout)") from None
        finally:
            if swap:
                signal.signal(signal.SIGALRM, previous)

    def _call_in_worker(self, what: str, fn, args: tuple):
        if self._worker is None:
            self._worker = _Worker()
        hung = self._hung
        if hung is not None:
            if not hung.done.is_set():
                raise AdapterBusy(f"{PREFIX} {what} was not attempted: the adapter is still in {hung.what}, "
                                  f"which did not return within {self.timeout:g} s (--call-timeout) and has "
                                  f"been running for {time.monotonic() - hung.started:.1f} s")
            self._hung = None
        job = _Job(fn, args, what)
        self._worker.submit(job)
        if not job.done.wait(self.timeout + self.grace):
            self._hung = job
            raise CallTimeout(f"{PREFIX} {what} did not return within {self.timeout:g} s (--call-timeout)")
        if job.error is not None:
            raise job.error
        return job.result
