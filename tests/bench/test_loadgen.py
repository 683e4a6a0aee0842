"""The generator against a real grpc.aio echo server, in its own processes."""

from __future__ import annotations

import grpc
import pytest

from bench import loadgen, procs
from bench.echo import METHOD
from bench.progress import Progress


def payload(_index: int) -> bytes:
    return b"x" * 16


def mixed(index: int) -> tuple[str, str, bytes]:
    return ("echo" if index % 2 else "missing"), (METHOD if index % 2 else "/no.Such/Rpc"), b"x"


@pytest.mark.slow
def test_open_and_closed_loops_against_an_echo_server() -> None:
    port = procs.free_port()
    target = f"127.0.0.1:{port}"
    with procs.running(procs.python("bench.echo", str(port)), port):
        opened = loadgen.run(
            loadgen.LoadSpec(target, METHOD, "tests.bench.test_loadgen:payload", rate=200.0,
                             duration_s=1.0, warmup_s=0.0, processes=2, connections=2)
        )  # fmt: skip
        closed = loadgen.run(
            loadgen.LoadSpec(target, METHOD, "tests.bench.test_loadgen:mixed", in_flight=4,
                             duration_s=0.5, warmup_s=0.0, max_requests=300)
        )  # fmt: skip
    assert opened.sent == 200 and opened.codes == {"OK": 200} and opened.processes == 2
    assert sum(row["offered_rps"] for row in opened.timeline) == pytest.approx(200)
    assert opened.latency_ms["p50"] > 0 and opened.histogram["count"] == 200
    assert closed.ok == closed.codes["echo/OK"] and closed.codes["missing/UNIMPLEMENTED"] > 0


def test_progress_line_counts_winners_refusals_shed_and_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    progress = Progress("sale", 10)
    progress.update(0, {"sent": 9, "done": 8, "OK": 2, "FAILED_PRECONDITION:SOLD_OUT": 3,
                        "RESOURCE_EXHAUSTED": 2, "UNAVAILABLE": 1})  # fmt: skip
    progress.close()
    line = capsys.readouterr().err
    assert "sale [" in line and "8/10" in line
    assert "ok=2 refused=3 shed=2 errors=1" in line


def test_interleaved_rounds_alternate_cases_and_fastest_keeps_the_best(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order: list[str] = []
    rates = iter([100.0, 50.0, 80.0, 90.0])

    def fake_run(spec: loadgen.LoadSpec) -> loadgen.LoadResult:
        order.append(spec.method)
        rps = next(rates)
        return loadgen.LoadResult(int(rps), 1.0, {"OK": int(rps)}, {}, 0.0)

    monkeypatch.setattr(loadgen, "run", fake_run)
    specs = {name: loadgen.LoadSpec("t", f"/{name}", "x:y", 1, 1.0) for name in ("a", "b")}
    rounds: list[int] = []
    runs = loadgen.interleaved(specs, 2, rounds.append)
    assert order == ["/a", "/b", "/a", "/b"] and rounds == [0, 1]
    best = loadgen.fastest(runs)
    assert (best["a"].rps, best["b"].rps) == (100.0, 90.0)


@pytest.mark.asyncio
async def test_outcomes_name_the_code_and_the_error_info_reason_without_raising() -> None:
    from servers.common.errors import PreconditionFailed
    from servers.common.status import to_grpc_status

    refusal = to_grpc_status(PreconditionFailed("SOLD_OUT", "test", "SKU-1 is sold out", {}))

    async def answer(request: bytes, context: grpc.aio.ServicerContext) -> bytes | None:
        if request == b"refuse":
            context.set_trailing_metadata(refusal.trailing_metadata)
            context.set_details(refusal.details)
            context.set_code(refusal.code)
            return None
        if request == b"shed":
            await context.send_initial_metadata((("x-envoy-overloaded", "true"),))
            await context.abort(grpc.StatusCode.UNAVAILABLE, "overflow")
        return request

    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    handler = grpc.unary_unary_rpc_method_handler(answer)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.T", {"A": handler})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/t.T/A")
            outcomes = [
                await loadgen.outcome_of(call(body), reasons)
                for body, reasons in (
                    (b"ok", True), (b"refuse", True), (b"refuse", False), (b"shed", True)
                )
            ]  # fmt: skip
    finally:
        await server.stop(0)
    assert outcomes == [
        "OK", "FAILED_PRECONDITION:SOLD_OUT", "FAILED_PRECONDITION", "UNAVAILABLE:ENVOY_OVERLOADED"
    ]  # fmt: skip
