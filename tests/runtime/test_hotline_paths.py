"""Scripted callers through every path of the default tree (config/menus/hotline.yaml)."""

from __future__ import annotations

from dataclasses import replace

from core.errors import ErrorCode
from integrations.base import DossierStatus, OpenState
from integrations.sample_dossiers import demo_dossiers
from ivr.channel import TransferOutcome
from ivr.events import (
    CallbackRequested,
    CallError,
    InputReceived,
    LookupDone,
    NodeEntered,
    PromptPlayed,
    SurveyAnswered,
    TransferRequested,
    TransferResult,
)
from ivr.runtime import phrases
from ivr.runtime.conversation import fill
from tests.runtime.fake_channel import HangUp, Press, Silence
from tests.runtime.fakes import (
    TARGETS,
    TODAY,
    Backends,
    MemoryDirectory,
    MemoryDossiers,
    call,
    hotline_tree,
    no_input_prompt,
    opening,
)

OTHER_CALLER = "0987000111"


def test_dossier_status_by_keypad_read_with_personal_details() -> None:
    # The caller ID is the dossier's phone: personal details follow the status.
    r = call([Press("1"), Press("2503039004#"), Press("1"), Press("3"), Press("5")])
    assert r.context.path == [
        "greeting",
        "main",
        "dossier_code",
        "dossier_lookup",
        "dossier_after",
        "survey",
        "goodbye",
    ]
    assert r.channel.heard("cuộc gọi này sẽ được ghi âm")
    assert r.channel.heard("2 5, 0 3, 0 3, 9 0, 0 4")  # the read-back
    assert r.channel.heard("đang được xử lý")
    assert r.channel.heard("ngày 3 tháng 3 năm 2025")
    assert r.channel.heard("Người nộp hồ sơ: Công ty TNHH Hải Đăng")
    [lookup] = r.of(LookupDone)
    assert isinstance(lookup, LookupDone)
    assert lookup.found and lookup.ok and lookup.key == "000.00.14.H56-250303-9004"
    assert r.context.inputs == {"dossier_code": "2503039004"}
    assert r.context.survey_score == 5 and r.of(SurveyAnswered)
    assert r.context.outcome == "hangup" and r.channel.ended_by == "ivr"
    assert all(isinstance(e, NodeEntered) and e.tree_version == 1 for e in r.of(NodeEntered))


def test_personal_details_need_the_phone_check() -> None:
    script = [Press("1"), Press("2503039006#"), Press("1"), Press("1234#"), Press("5678#")]
    r = call([*script, HangUp(hear=opening("dossier_after"))], caller=OTHER_CALLER)
    texts = r.texts
    status_at = next(i for i, t in enumerate(texts) if "nghĩa vụ tài chính" in t)
    personal_at = next(i for i, t in enumerate(texts) if "Công ty TNHH Hải Đăng" in t)
    assert status_at < personal_at  # status first, to anyone with the code
    verify = hotline_tree().nodes["dossier_lookup"].verify_prompt
    assert verify is not None and r.channel.heard(verify.text)
    assert r.channel.heard("chưa khớp")  # 1234 was wrong, 5678 is right
    assert r.channel.heard("chưa nộp")  # the unpaid fee is personal


def test_skipping_the_phone_check_reads_the_status_only() -> None:
    r = call(
        [
            Press("1"),
            Press("2503039006#"),
            Press("1"),
            Press("#"),
            HangUp(hear=opening("dossier_after")),
        ],
        caller=OTHER_CALLER,
    )
    assert r.channel.heard("nghĩa vụ tài chính")
    assert not r.channel.heard("Hải Đăng") and not r.channel.heard("Phí thẩm định")
    assert r.context.outcome == "caller-hung-up"


def test_overdue_dossier_apologises_and_transfers_to_an_officer() -> None:
    r = call([Press("1"), Press("2503039011#"), Press("1"), Press("0")])
    assert r.channel.heard("đã quá hạn 10 ngày làm việc")
    assert r.channel.heard("thành thật xin lỗi")
    assert r.context.path[-3:] == ["dossier_overdue", "officer", "officer_transfer"]
    [request] = r.of(TransferRequested)
    assert isinstance(request, TransferRequested)
    assert request.target == TARGETS["tong-dai"] and request.department == "tong-dai"
    assert "quá hạn" in request.reason
    assert r.channel.transfers[0][0] == TARGETS["tong-dai"]
    assert r.context.outcome == "transferred"
    summary = r.context.summary()
    assert summary["lookups"][0]["summary"].startswith("Đang xử lý, quá hạn")
    assert summary["inputs"] == {"dossier_code": "2503039011"}


def test_unknown_dossier_code_offers_retry_and_main_menu() -> None:
    r = call(
        [Press("1"), Press("2503039099#"), Press("1"), Press("2"), HangUp(hear=opening("main"))]
    )
    not_found = hotline_tree().nodes["dossier_not_found"].prompt
    assert not_found is not None and "{dossier_code}" in not_found.text
    assert r.channel.heard(fill(not_found.text, {"dossier_code": "2503039099"}))
    assert r.context.path[-3:] == ["dossier_not_found", "to_main", "main"]
    [lookup] = r.of(LookupDone)
    assert isinstance(lookup, LookupDone) and not lookup.found and lookup.ok


def test_invalid_code_gets_the_no_match_prompt_and_a_retry() -> None:
    r = call(
        [
            Press("1"),
            Press("123#"),
            Press("2503039002#"),
            Press("1"),
            HangUp(hear=opening("dossier_after")),
        ]
    )
    no_match = hotline_tree().nodes["dossier_code"].no_match
    assert no_match is not None and r.channel.heard(no_match.text)
    assert r.channel.heard("đã được tiếp nhận")
    inputs = [e for e in r.of(InputReceived) if isinstance(e, InputReceived)]
    assert [(e.value, e.valid) for e in inputs if e.node_id == "dossier_code"] == [
        ("123", False),
        ("2503039002", True),
    ]


def test_rejected_read_back_asks_again() -> None:
    r = call([Press("1"), Press("2503039001#"), Press("2"), Press("2503039002#"), Press("1"),
              HangUp(hear=opening("dossier_after"))])  # fmt: skip
    assert r.context.inputs["dossier_code"] == "2503039002"
    assert r.context.lookups[0].key.endswith("9002")


def test_source_outage_apologises_and_reaches_an_officer() -> None:
    backends = Backends(dossiers=MemoryDossiers(demo_dossiers(TODAY), fail=True))
    r = call([Press("1"), Press("2503039004#"), Press("1")], backends=backends)
    assert r.channel.heard(opening("dossier_failed"))
    [lookup] = r.of(LookupDone)
    assert isinstance(lookup, LookupDone) and not lookup.ok
    errors = [e for e in r.of(CallError) if isinstance(e, CallError)]
    assert [e.code for e in errors] == [ErrorCode.INTEGRATION_FAILED]
    assert r.context.path[-3:] == ["dossier_failed", "officer", "officer_transfer"]
    assert r.context.outcome == "transferred"


def test_a_caller_who_never_answers_ends_with_the_officer() -> None:
    r = call([Silence(), Silence(), Silence()])
    assert r.texts.count(no_input_prompt()) == 2
    assert r.context.path == ["greeting", "main", "officer", "officer_transfer"]
    assert r.context.outcome == "transferred"
    assert "main" in r.context.reason


def test_out_of_hours_records_a_callback() -> None:
    backends = Backends(officers=MemoryDirectory(OpenState.CLOSED))
    r = call([Press("0"), Press("1"), Silence(), Silence()], backends=backends)
    assert r.channel.heard(opening("out_of_hours"))
    [request] = backends.callbacks.requests
    assert request.number == "0912345678" and request.department == "tong-dai"
    assert request.context["path"][-1] == "callback_general"
    assert r.of(CallbackRequested)
    # Skipping the survey is fine: straight to the goodbye, never to an officer.
    assert r.context.path[-2:] == ["survey", "goodbye"] and r.context.survey_score is None


def test_holiday_branch() -> None:
    backends = Backends(officers=MemoryDirectory(OpenState.HOLIDAY))
    r = call([Press("0"), Press("3")], backends=backends)
    assert r.channel.heard(opening("holiday_closed"))
    assert r.context.path[-2:] == ["holiday_closed", "goodbye"]


def test_failed_transfer_apologises_and_offers_a_callback() -> None:
    busy = {TARGETS["tong-dai"]: TransferOutcome(False, 486, "Busy Here")}
    r = call([Press("0"), Press("1"), Press("4")], transfer_outcomes=busy)
    assert r.channel.heard(opening("officer_busy"))
    results = [e for e in r.of(TransferResult) if isinstance(e, TransferResult)]
    assert [(e.status, e.ok) for e in results] == [(486, False)]
    assert r.context.path[-4:] == ["officer_busy", "callback_general", "survey", "goodbye"]
    assert len(r.backends.callbacks.requests) == 1


def test_procedure_guidance_by_browsing() -> None:
    # 2 procedures, 1 Sở Công thương, 2 the field "Thương mại", 1 the promotion registration.
    r = call([Press("2"), Press("1"), Press("2"), Press("1"), Press("4"), Press("4")])
    assert r.channel.heard("bấm 1 cho An toàn thực phẩm, bấm 2 cho Thương mại")
    assert r.channel.heard("Thủ tục Đăng ký thực hiện khuyến mại, do Sở Công thương thực hiện")
    assert r.channel.heard("theo mẫu Mẫu 02")  # documents
    assert r.channel.heard("không mất phí")  # fees
    assert r.channel.heard("5 ngày làm việc")  # processing time
    assert r.channel.heard("trực tuyến toàn trình")  # how to submit
    assert r.channel.heard("bưu chính công ích")
    assert r.context.lookups[0].key == "2.000002"
    assert r.context.department == "so-cong-thuong"
    assert r.context.survey_score == 4


def test_procedure_with_a_single_field_and_a_fee() -> None:
    r = call([Press("2"), Press("2"), HangUp(hear=opening("procedure_after"))])
    assert r.channel.heard("Đăng ký đất đai lần đầu")  # the only one: no list to choose from
    assert r.channel.heard("Lệ phí theo nghị quyết")
    assert r.channel.heard("30 ngày làm việc")


def test_department_without_procedures_goes_to_not_found() -> None:
    r = call([Press("2"), Press("3"), Press("2"), HangUp(hear=opening("main"))])
    assert r.channel.heard(opening("procedure_not_found"))
    assert r.context.path[-3:] == ["procedure_not_found", "to_main", "main"]


def test_online_help_paths_and_repeat_key() -> None:
    r = call([Press("3"), Press("1"), Press("9"), Press("1"), Press("2"), Press("1"),
              Press("3"), Press("3"), Press("1")])  # fmt: skip
    portal = [t for t in r.texts if t.startswith(opening("online_portal"))]
    assert len(portal) == 1
    # 9 in online_after repeats that menu (it is the menu's own repeat key).
    after = [t for t in r.texts if t.startswith(opening("online_after"))]
    assert len(after) >= 2
    assert r.channel.heard(opening("online_payment")) and r.channel.heard("bưu chính công ích")
    assert r.context.path[-2:] == ["survey", "goodbye"]


def test_back_key_returns_to_the_previous_menu() -> None:
    r = call([Press("2"), Press("*"), Press("3"), HangUp(hear=opening("online"))])
    assert r.context.path == ["greeting", "main", "procedures", "main", "online"]


def test_officer_key_from_inside_a_menu() -> None:
    r = call([Press("3"), Press("0")])
    assert r.context.path[-3:] == ["online", "officer", "officer_transfer"]
    assert r.context.outcome == "transferred"


def test_barge_in_by_digit_interrupts_the_prompt() -> None:
    r = call([Press("2", hear=opening("main"), after_s=1.5), HangUp(hear=opening("procedures"))])
    main = next(p for p in r.channel.played if p.text.startswith(opening("main")))
    assert not main.outcome.completed and main.outcome.digit == "2"
    assert 1.4 < main.outcome.played_s < 1.6
    played = [e for e in r.of(PromptPlayed) if isinstance(e, PromptPlayed) and e.node_id == "main"]
    assert played[0].interrupted
    assert r.context.path[-1] == "procedures"


def test_caller_hanging_up_mid_prompt_ends_cleanly() -> None:
    r = call([HangUp(hear=opening("greeting"), after_s=2.0)])
    assert r.context.outcome == "caller-hung-up"
    assert r.context.path == ["greeting"]
    assert not r.of(CallError)


def test_silent_caller_out_of_hours_gets_a_goodbye_not_an_endless_loop() -> None:
    backends = Backends(officers=MemoryDirectory(OpenState.CLOSED))
    r = call([], backends=backends)
    assert r.context.outcome == "hangup" and r.channel.ended_by == "ivr"
    assert r.context.path.count("out_of_hours") >= 1 and "main" in r.context.path
    assert r.texts[-1] == phrases.GOODBYE
    assert r.channel.played[-1].at_s < 600  # minutes, not the channel's 15-minute guard


def test_a_tail_shared_by_two_agencies_asks_which_one() -> None:
    dossiers = demo_dossiers(TODAY)
    twin = replace(
        dossiers[3],
        code="000.00.15.H56-250303-9004",
        procedure_name="Đăng ký đất đai lần đầu",
        status=DossierStatus.DONE,
    )
    backends = Backends(dossiers=MemoryDossiers([*dossiers, twin]))
    script = [
        Press("1"),
        Press("2503039004#"),
        Press("1"),
        Press("2"),
        HangUp(hear=opening("dossier_after")),
    ]
    r = call(script, backends=backends)
    assert r.channel.heard("Có 2 hồ sơ trùng số này.")
    assert r.channel.heard("bấm 2 cho Đăng ký đất đai lần đầu")
    assert r.context.lookups[0].key == "000.00.15.H56-250303-9004"
    assert r.channel.heard("đã được xử lý xong")


def test_lookup_event_names_its_kind_and_the_lookup_kind() -> None:
    r = call([Press("1"), Press("2503039002#"), Press("1"), HangUp(hear=opening("dossier_after"))])
    [lookup] = r.of(LookupDone)
    assert lookup.kind == "lookup-done"  # what the call log files it under
    payload = lookup.payload()
    assert payload["lookup"] == "dossier" and payload["found"] is True
    assert payload["key"] == "000.00.14.H56-250303-9002" and payload["node_id"] == "dossier_lookup"


def test_officer_key_during_the_read_back() -> None:
    r = call([Press("1"), Press("2503039004#"), Press("0")])
    assert r.context.path[-3:] == ["dossier_code", "officer", "officer_transfer"]
    assert r.context.outcome == "transferred" and not r.context.inputs
