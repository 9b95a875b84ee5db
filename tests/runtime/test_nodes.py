"""Node kinds and failure handling on a small tree of their own: phone input and a callback to
it, back/repeat/goto nodes, a fixed procedure, transfers with no target, and a broken tree,
a failing synthesiser, callback store or catalogue."""

from __future__ import annotations

from typing import Any

from core.errors import ErrorCode
from integrations.base import Procedure
from ivr.channel import Audio
from ivr.events import CallbackRequested, CallError, InputReceived
from ivr.runtime import phrases
from ivr.runtime.deps import CallbackRequest
from menus.model import MenuTree
from tests.runtime.fake_channel import FakePrompts, HangUp, Press, Silence
from tests.runtime.fakes import Backends, MemoryCatalogue, call


def small_tree(**extra_nodes: Any) -> MenuTree:
    nodes: dict[str, Any] = {
        "menu": {
            "kind": "menu",
            "prompt": "Menu chính nhỏ.",
            "choices": [
                {"key": "1", "next": "phone"},
                {"key": "2", "next": "sub"},
                {"key": "3", "next": "fees_only"},
                {"key": "4", "next": "to_nobody"},
                {"key": "5", "next": "code"},
                {"key": "6", "next": "browse"},
            ],
        },
        "phone": {
            "kind": "input",
            "prompt": "Xin nhập số điện thoại để cán bộ gọi lại.",
            "variable": "callback_number",
            "rule": "phone",
            "next": "callback",
        },
        "callback": {
            "kind": "callback",
            "department": "so-cong-thuong",
            "number": "input",
            "variable": "callback_number",
            "next": "bye",
        },
        "sub": {
            "kind": "menu",
            "prompt": "Menu con.",
            "choices": [
                {"key": "1", "next": "go_back"},
                {"key": "2", "next": "info"},
                {"key": "3", "next": "again"},
            ],
        },
        "go_back": {"kind": "back"},
        "info": {"kind": "say", "prompt": "Thông tin ngắn.", "next": "bye"},
        "again": {"kind": "repeat"},
        "fees_only": {
            "kind": "procedure",
            "mode": "browse",
            "procedure": "2.000591",
            "topics": ["fees"],
            "next": "bye",
        },
        "browse": {"kind": "procedure", "mode": "browse", "next": "bye"},
        "to_nobody": {"kind": "transfer", "department": "ubnd-xa"},
        "code": {
            "kind": "input",
            "prompt": "Xin nhập mã gồm hai chữ cái.",
            "variable": "code",
            "rule": {"kind": "regex", "pattern": "[0-9]{3}"},
            "next": "bye",
        },
        "bye": {"kind": "hangup"},
    }
    nodes.update(extra_nodes)
    return MenuTree.from_dict(
        {
            "id": "small",
            "title": "Cây thử",
            "start": "menu",
            "officer_department": "tong-dai",
            "global_keys": {"9": "repeat", "*": "back", "0": "officer"},
            "defaults": {"timeout_s": 3, "retries": 1, "on_fail": "main_menu"},
            "nodes": nodes,
        }
    )


def test_phone_input_and_a_callback_to_it() -> None:
    r = call([Press("1"), Press("0909123456#")], tree=small_tree())
    [request] = r.backends.callbacks.requests
    assert request.number == "0909123456" and request.department == "so-cong-thuong"
    assert r.context.inputs == {"callback_number": "090*****56"}  # masked in the context
    assert r.of(CallbackRequested)
    assert r.channel.heard("gọi lại số 0 9 0, 9 1 2, 3 4 5, 6")
    assert r.channel.heard(phrases.GOODBYE) and r.context.outcome == "hangup"


def test_invalid_phone_twice_goes_back_to_the_main_menu() -> None:
    r = call(
        [Press("1"), Press("12#"), Press("34#"), HangUp(hear="Menu chính nhỏ")], tree=small_tree()
    )
    assert r.context.path == ["menu", "phone", "menu"]
    inputs = [e for e in r.of(InputReceived) if isinstance(e, InputReceived)]
    assert [(e.node_id, e.valid) for e in inputs] == [
        ("menu", True),
        ("phone", False),
        ("phone", False),
    ]
    assert "12" not in {e.value for e in inputs}  # phone entries are masked, even wrong ones


def test_back_and_repeat_nodes() -> None:
    script = [Press("2"), Press("3"), Press("1"), HangUp(hear="Menu chính nhỏ")]
    r = call(script, tree=small_tree())
    # "again" (a repeat node) replays the node before it, the sub menu; "go_back" returns to
    # the menu before the one that offered it.
    assert r.context.path == ["menu", "sub", "again", "sub", "go_back", "menu"]
    assert r.texts.count("Menu con.") == 2


def test_fixed_procedure_reads_only_the_chosen_topic() -> None:
    r = call([Press("3")], tree=small_tree())
    assert r.channel.heard("Phí, lệ phí: 1 triệu đồng.")
    assert not r.channel.heard("Hồ sơ gồm") and not r.channel.heard("Thời gian giải quyết")


def test_browsing_every_department_lists_them() -> None:
    r = call([Press("6"), Press("3"), HangUp(hear="Đăng ký đất đai")], tree=small_tree())
    assert r.channel.heard("bấm 1 cho Tổng đài dịch vụ công, bấm 2 cho Sở Công thương")
    assert r.context.department == "so-tn-mt"


def test_regex_rule() -> None:
    r = call([Press("5"), Press("12#"), Press("123#")], tree=small_tree())
    assert r.context.inputs == {"code": "123"}


def test_transfer_without_a_configured_target_apologises_and_offers_a_callback() -> None:
    r = call([Press("4"), Press("1"), HangUp(hear="Menu chính nhỏ")], tree=small_tree())
    errors = [e for e in r.of(CallError) if isinstance(e, CallError)]
    assert [e.code for e in errors] == [ErrorCode.TRANSFER_FAILED]
    assert r.channel.heard(phrases.TRANSFER_FAILED)
    assert [q.department for q in r.backends.callbacks.requests] == ["ubnd-xa"]
    assert not r.channel.transfers  # nothing was sent anywhere the caller could choose


def test_officer_key_without_an_officer_node_transfers_to_the_officer_department() -> None:
    r = call([Press("0")], tree=small_tree())
    assert r.channel.transfers[0][0] == "sip:tongdai@pbx.local"
    assert r.context.outcome == "transferred" and r.context.department == "tong-dai"


def test_silent_caller_on_a_main_menu_fallback_tree_still_reaches_a_person() -> None:
    r = call([Silence()] * 12, tree=small_tree())
    assert r.context.outcome == "transferred"
    assert r.context.path.count("menu") == 1


def test_runaway_loop_is_stopped_with_an_apology() -> None:
    loop = {"kind": "goto", "target": "loop"}
    tree = small_tree(loop=loop)
    tree = MenuTree.from_dict({**tree.to_dict(), "start": "loop"})
    r = call([], tree=tree)
    errors = [e for e in r.of(CallError) if isinstance(e, CallError)]
    assert [e.code for e in errors] == [ErrorCode.MENU_ERROR]
    assert r.channel.ended_by == "ivr" and r.context.outcome == "hangup"
    assert r.texts[-1].startswith("Xin lỗi quý vị, hệ thống gặp sự cố")


def test_dangling_reference_returns_to_the_start() -> None:
    data = small_tree().to_dict()
    data["nodes"]["sub"]["choices"][1]["next"] = "nowhere"
    r = call([Press("2"), Press("2"), HangUp(hear="Menu chính nhỏ")], tree=MenuTree.from_dict(data))
    assert r.context.path == ["menu", "sub", "menu"]
    assert any(isinstance(e, CallError) and "nowhere" in e.detail for e in r.of(CallError))


class BrokenPrompts(FakePrompts):
    async def __call__(self, text: str) -> Audio:
        if text == "Menu con.":
            raise RuntimeError("synthesiser crashed")
        return await super().__call__(text)


def test_synthesis_failure_is_reported_and_the_call_goes_on() -> None:
    backends = Backends(prompts=BrokenPrompts())
    r = call(
        [Press("2"), Press("2"), HangUp(hear="Thông tin")], tree=small_tree(), backends=backends
    )
    errors = [e for e in r.of(CallError) if isinstance(e, CallError)]
    assert [e.code for e in errors] == [ErrorCode.SYNTHESIS_FAILED]
    assert r.context.path[:3] == ["menu", "sub", "info"]


class FailingCallbacks:
    async def record(self, request: CallbackRequest) -> None:
        raise ConnectionError("database down")


def test_callback_store_failure_apologises_and_offers_help() -> None:
    backends = Backends()
    backends.callbacks = FailingCallbacks()  # type: ignore[assignment]
    r = call([Press("1"), Press("0909123456#"), Press("0")], tree=small_tree(), backends=backends)
    assert r.channel.heard("chưa ghi nhận được yêu cầu gọi lại")
    assert r.channel.heard("Để gặp cán bộ hỗ trợ, xin bấm phím 0")
    assert r.context.outcome == "transferred"


def test_catalogue_failure_apologises_and_offers_a_callback() -> None:
    backends = Backends(catalogue=MemoryCatalogue(fail=True))
    r = call([Press("3"), Press("1"), Silence(), HangUp(hear="Menu chính nhỏ")], tree=small_tree(),
             backends=backends)  # fmt: skip
    assert r.channel.heard(phrases.SYSTEM_APOLOGY)
    assert len(backends.callbacks.requests) == 1
    errors = [e for e in r.of(CallError) if isinstance(e, CallError)]
    assert errors[0].code is ErrorCode.INTEGRATION_FAILED


def test_long_lists_are_read_a_page_at_a_time() -> None:
    many = [
        Procedure(
            code=f"p{i}",
            name=f"Thủ tục số {i}",
            field="Thương mại",
            department_id="so-cong-thuong",
            agency="Sở Công thương",
        )
        for i in range(1, 11)
    ]
    backends = Backends(catalogue=MemoryCatalogue(many))
    browse = {"kind": "procedure", "mode": "browse", "department": "so-cong-thuong", "next": "bye"}
    tree = small_tree(browse=browse)
    r = call([Press("6"), Press("9"), Press("2")], tree=tree, backends=backends)
    first_page = next(t for t in r.texts if "Bấm 1 cho Thủ tục số 1," in t)
    assert "bấm 8 cho Thủ tục số 8" in first_page and "số 9" not in first_page
    assert "Để nghe thêm, bấm 9" in first_page
    assert r.channel.heard("Bấm 1 cho Thủ tục số 9, bấm 2 cho Thủ tục số 10")
    assert r.context.lookups[0].key == "p10"


def test_without_a_callback_store_the_event_is_the_record() -> None:
    backends = Backends()
    backends.callbacks = None  # type: ignore[assignment]
    r = call([Press("1"), Press("0909123456#")], tree=small_tree(), backends=backends)
    [event] = [e for e in r.of(CallbackRequested) if isinstance(e, CallbackRequested)]
    assert event.number == "0909123456" and event.department == "so-cong-thuong"
    assert r.channel.heard("Cán bộ sẽ gọi lại")


def test_every_node_kind_has_a_visitor() -> None:
    from ivr.runtime.nodes import VISITORS
    from menus.model import NODE_CLASSES

    assert set(VISITORS) == set(NODE_CLASSES.values())
