"""Runs a state machine of template.yaml the way Step Functions would, for the local stack and the tests.

moto stores state machines and executions but does not run a Distributed Map over S3 with Lambda tasks. This
interpreter does, for the states the audience import's definition uses and nothing else (anything else is
refused by name): ``Task`` on ``arn:aws:states:::lambda:invoke`` (Parameters, ResultSelector, ResultPath,
OutputPath, Retry, Catch), ``Map`` in ``DISTRIBUTED`` mode with an ``ItemReader`` of a CSV in S3 (header in
the first row), ``ItemSelector``, ``ItemBatcher`` (MaxItemsPerBatch, BatchInput), ``MaxConcurrency`` and
``ToleratedFailurePercentage``, ``Fail`` and ``Succeed``. A Lambda task calls the template's function in
process. The CSV is streamed: at most MaxConcurrency batches are in flight, so memory is flat.
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
S3_GET_OBJECT = "arn:aws:states:::s3:getObject"

Invoke = Callable[[str, dict[str, Any]], Any]  # (function ARN, payload) -> the function's answer


class Unsupported(Exception):
    """The definition uses something this interpreter does not run."""


class StateFailed(Exception):
    """A state failed: ``error`` as Step Functions names it (``States.TaskFailed``, an exception's class name)."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


class Interpreter:
    """One state machine definition; :meth:`run` executes it on an input."""

    def __init__(
        self,
        definition: dict[str, Any],
        invoke: Invoke,
        s3: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.definition = definition
        self.invoke = invoke
        self.s3 = s3
        self.sleep = sleep

    def run(self, data: Any) -> Any:
        """The execution's output; StateFailed when it fails."""
        return self._machine(self.definition, data, {})

    def _machine(self, machine: dict[str, Any], data: Any, context: dict[str, Any]) -> Any:
        name = machine["StartAt"]
        while True:
            state = machine["States"][name]
            kind = state["Type"]
            if kind == "Succeed":
                return data
            if kind == "Fail":
                error = _get(data, state["ErrorPath"]) if "ErrorPath" in state else state.get("Error")
                cause = _get(data, state["CausePath"]) if "CausePath" in state else state.get("Cause")
                raise StateFailed(str(error or "States.Fail"), str(cause or ""))
            if kind not in ("Task", "Map"):
                raise Unsupported(f"state {name!r} of type {kind!r}")
            try:
                result = self._attempts(state, data, context)
            except StateFailed as failed:
                catcher = next(
                    (c for c in state.get("Catch", []) if _matches(c["ErrorEquals"], failed)), None
                )
                if catcher is None:
                    raise
                error = {"Error": failed.error, "Cause": failed.cause}
                data, name = _put(data, catcher.get("ResultPath", "$"), error), catcher["Next"]
                continue
            if "ResultSelector" in state:
                result = evaluate(state["ResultSelector"], result, context)
            data = _put(data, state.get("ResultPath", "$"), result)
            data = _get(data, state.get("OutputPath", "$"))
            if state.get("End"):
                return data
            name = state["Next"]

    def _attempts(self, state: dict[str, Any], data: Any, context: dict[str, Any]) -> Any:
        """The state run, retried as its Retry says (each retrier counts its own attempts)."""
        used: dict[int, int] = {}
        while True:
            try:
                return self._task(state, data, context) if state["Type"] == "Task" else self._map(state, data)
            except StateFailed as failed:
                n, retrier = next(
                    (
                        (n, r)
                        for n, r in enumerate(state.get("Retry", []))
                        if _matches(r["ErrorEquals"], failed)
                    ),
                    (None, None),
                )
                if retrier is None or used.get(n, 0) >= retrier.get("MaxAttempts", 3):
                    raise
                used[n] = used.get(n, 0) + 1
                delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** (used[n] - 1)
                self.sleep(min(delay, retrier.get("MaxDelaySeconds", delay)))

    def _task(self, state: dict[str, Any], data: Any, context: dict[str, Any]) -> Any:
        if state.get("Resource") != LAMBDA_INVOKE:
            raise Unsupported(f"task resource {state.get('Resource')!r}")
        parameters = evaluate(state.get("Parameters", {}), data, context)
        try:
            payload = self.invoke(parameters["FunctionName"], parameters.get("Payload", data))
        except Exception as exc:  # a Lambda function error: its class name, as Step Functions reports it
            raise StateFailed(type(exc).__name__, str(exc)[:500]) from exc
        return {"Payload": payload, "StatusCode": 200}

    def _map(self, state: dict[str, Any], data: Any) -> None:
        processor = state["ItemProcessor"]
        if processor.get("ProcessorConfig", {}).get("Mode") != "DISTRIBUTED" or "ItemReader" not in state:
            raise Unsupported("a Map that is not DISTRIBUTED over an ItemReader")
        if state.get("ResultPath", "$") is not None or "ResultWriter" in state:
            raise Unsupported("a Distributed Map whose results are kept (only ResultPath: null is run)")
        tolerated = state.get("ToleratedFailurePercentage", 0)
        if tolerated:
            raise Unsupported("ToleratedFailurePercentage other than 0")
        batcher = state.get("ItemBatcher")
        size = batcher["MaxItemsPerBatch"] if batcher else 1
        batch_input = evaluate(batcher.get("BatchInput", {}), data, {}) if batcher else None
        limit = max(1, state.get("MaxConcurrency", 1000))
        slots = threading.BoundedSemaphore(limit)
        failures: list[StateFailed] = []

        def child(items: list[Any]) -> None:
            try:
                self._machine(
                    processor, {"Items": items, "BatchInput": batch_input} if batcher else items[0], {}
                )
            except StateFailed as failed:
                failures.append(failed)
            finally:
                slots.release()

        with ThreadPoolExecutor(limit, thread_name_prefix="map") as pool:
            batch: list[Any] = []
            for index, value in enumerate(self._items(state["ItemReader"], data)):
                if failures:
                    break
                item = {"Index": index, "Value": value}
                selected = (
                    evaluate(state["ItemSelector"], data, {"Map": {"Item": item}})
                    if "ItemSelector" in state
                    else value
                )
                batch.append(selected)
                if len(batch) == size:
                    slots.acquire()
                    pool.submit(child, batch)
                    batch = []
            if batch and not failures:
                slots.acquire()
                pool.submit(child, batch)
        if failures:
            raise StateFailed(
                "States.ExceedToleratedFailureThreshold", f"{failures[0].error}: {failures[0].cause}"
            )

    def _items(self, reader: dict[str, Any], data: Any) -> Iterator[dict[str, str]]:
        config = reader.get("ReaderConfig", {})
        if reader.get("Resource") != S3_GET_OBJECT or config.get("InputType") != "CSV":
            raise Unsupported(f"ItemReader {reader.get('Resource')!r} of {config.get('InputType')!r}")
        if config.get("CSVHeaderLocation", "FIRST_ROW") != "FIRST_ROW":
            raise Unsupported("a CSV header given in the definition (only FIRST_ROW is run)")
        where = evaluate(reader["Parameters"], data, {})
        body = self.s3.get_object(Bucket=where["Bucket"], Key=where["Key"])["Body"]
        rows = csv.reader(codecs.getreader("utf-8")(body))
        header = next(rows, None) or []
        for row in rows:
            yield dict(zip(header, row + [""] * (len(header) - len(row)), strict=False))


def evaluate(template: Any, data: Any, context: dict[str, Any]) -> Any:
    """A Parameters / ItemSelector / ResultSelector template: keys ending in ``.$`` take a path's value."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = (
                    _get(context, "$" + value[2:]) if value.startswith("$$") else _get(data, value)
                )
            else:
                out[key] = evaluate(value, data, context)
        return out
    if isinstance(template, list):
        return [evaluate(v, data, context) for v in template]
    return template


def _get(data: Any, path: str | None) -> Any:
    if path is None or path == "$":
        return data if path else {}
    if not path.startswith("$."):
        raise Unsupported(f"path {path!r} (only $ and $.a.b)")
    for part in path[2:].split("."):
        if not isinstance(data, dict) or part not in data:
            raise StateFailed("States.Runtime", f"no {path} in the input")
        data = data[part]
    return data


def _put(data: Any, path: str | None, value: Any) -> Any:
    if path is None:
        return data
    if path == "$":
        return value
    if not path.startswith("$.") or "." in path[2:]:
        raise Unsupported(f"ResultPath {path!r} (only $, null and $.name)")
    return {**data, path[2:]: value}


def _matches(errors: list[str], failed: StateFailed) -> bool:
    return (
        "States.ALL" in errors
        or failed.error in errors
        or ("States.TaskFailed" in errors and not failed.error.startswith("States."))
    )


class Executions:
    """Runs each execution StartExecution created in moto (RUNNING there, for ever: moto never runs one) once,
    like Step Functions would; ``outcomes`` keeps how each ended (``SUCCEEDED``/``FAILED``, output or error)."""

    def __init__(self, sfn: Any, state_machine_arn: str, interpreter: Interpreter) -> None:
        self.sfn = sfn
        self.arn = state_machine_arn
        self.interpreter = interpreter
        self.outcomes: dict[str, tuple[str, Any]] = {}

    def pump(self) -> int:
        """Run the executions not run yet; how many."""
        listed = self.sfn.list_executions(stateMachineArn=self.arn, statusFilter="RUNNING")["executions"]
        fresh = [e["executionArn"] for e in listed if e["executionArn"] not in self.outcomes]
        for arn in fresh:
            data = json.loads(self.sfn.describe_execution(executionArn=arn)["input"])
            try:
                self.outcomes[arn] = ("SUCCEEDED", self.interpreter.run(data))
            except StateFailed as failed:
                self.outcomes[arn] = ("FAILED", {"Error": failed.error, "Cause": failed.cause})
                print(f"mmapi local: execution {arn} failed: {failed}", file=sys.stderr)
        return len(fresh)

    def poll(self, stop: threading.Event, every: float = 0.5) -> None:
        """:meth:`pump` until ``stop`` is set."""
        while not stop.wait(every):
            try:
                self.pump()
            except Exception as exc:  # moto restarting, a bug in a definition: keep polling
                print(f"mmapi local: state machine {self.arn}: {exc!r}", file=sys.stderr)
