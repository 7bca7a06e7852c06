"""The fake SendGrid: it must accept what SendGrid accepts and reject what SendGrid rejects."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest
from conftest import free_port
from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient

from alerts.delivery.providers.sendgrid.standin import (
    FakeSendGrid,
    Fault,
    control,
    iter_store,
    read_store,
    stats,
    validate_mail,
    webhook_events,
)


def valid_body(count: int = 2) -> dict[str, Any]:
    return {
        "personalizations": [
            {
                "to": [{"email": f"reader{i}@example.org", "name": f"Reader {i}"}],
                "substitutions": {"-name-": f"Reader {i}", "-zip-": "6270" + str(i)},
                "custom_args": {"alerts_campaign": "4", "alerts_recipient": str(i)},
                "headers": {"List-Unsubscribe": f"<https://act.example.org/u/{i}>"},
            }
            for i in range(count)
        ],
        "from": {"email": "updates@example.org", "name": "End QI"},
        "reply_to": {"email": "team@example.org"},
        "subject": "Hello -name-",
        "content": [
            {"type": "text/plain", "value": "Dear -name- (-zip-)"},
            {"type": "text/html", "value": "<p>Dear -name-</p>"},
        ],
        "categories": ["update"],
        "tracking_settings": {"click_tracking": {"enable": False}},
    }


@pytest.fixture
def fake() -> Any:
    with FakeSendGrid() as server:
        yield server


def client(fake: FakeSendGrid, key: str = "SG.test") -> SendGridAPIClient:
    sg = SendGridAPIClient(api_key=key, host=fake.url)
    sg.client.timeout = 2
    return sg


def fields(body: Any) -> list[str | None]:
    return [e.field for e in validate_mail(body)]


# --------------------------------------------------------------------------
# Validation


def test_a_valid_body_passes():
    assert validate_mail(valid_body()) == []


def edit(change: Any) -> dict[str, Any]:
    body = valid_body()
    change(body)
    return body


def pset(i: int, key: str, value: Any) -> Any:
    return lambda b: b["personalizations"][i].__setitem__(key, value)


REJECTED = [
    ("no personalizations", lambda b: b.pop("personalizations"), "personalizations"),
    ("empty personalizations", lambda b: b.update(personalizations=[]), "personalizations"),
    ("no from", lambda b: b.pop("from"), "from"),
    ("bad from", lambda b: b.update({"from": {"email": "nobody"}}), "from.email"),
    ("bad reply_to", lambda b: b.update(reply_to={"email": "a@@b"}), "reply_to.email"),
    ("no subject", lambda b: b.pop("subject"), "subject"),
    ("no content", lambda b: b.pop("content"), "content"),
    ("empty content value", lambda b: b["content"][0].update(value=""), "content.0.value"),
    ("html before text", lambda b: b["content"].reverse(), "content"),
    ("no to", lambda b: b["personalizations"][0].pop("to"), "personalizations.0.to"),
    ("bad to", pset(1, "to", [{"email": "x@"}]), "personalizations.1.to.0.email"),
    (
        "name with comma",
        pset(0, "to", [{"email": "a@b.org", "name": "Doe, J"}]),
        "personalizations.0.to.0.name",
    ),
    (
        "number substitution",
        pset(0, "substitutions", {"-n-": 3}),
        "personalizations.0.substitutions",
    ),
    ("list substitutions", pset(0, "substitutions", ["-n-"]), "personalizations.0.substitutions"),
    (
        "big substitutions",
        pset(0, "substitutions", {"-n-": "x" * 10_000}),
        "personalizations.0.substitutions",
    ),
    (
        "number custom_arg",
        pset(0, "custom_args", {"alerts_recipient": 1}),
        "personalizations.0.custom_args",
    ),
    (
        "big custom_args",
        pset(0, "custom_args", {"a": "x" * 9_999}),
        "personalizations.0.custom_args",
    ),
    (
        "big combined custom_args",
        lambda b: (
            b.update(custom_args={"m": "x" * 5000}),
            pset(0, "custom_args", {"p": "y" * 5000})(b),
        ),
        "personalizations.0.custom_args",
    ),
    ("reserved header", pset(0, "headers", {"Subject": "x"}), "personalizations.0.headers"),
    ("11 categories", lambda b: b.update(categories=[f"c{i}" for i in range(11)]), "categories"),
    ("long category", lambda b: b.update(categories=["c" * 256]), "categories.0"),
    ("repeated category", lambda b: b.update(categories=["a", "a"]), "categories"),
    ("number category", lambda b: b.update(categories=[5]), "categories.0"),
    (
        "string enable",
        lambda b: b.update(tracking_settings={"open_tracking": {"enable": "false"}}),
        "tracking_settings.open_tracking.enable",
    ),
    ("send_at far ahead", lambda b: b.update(send_at=int(time.time()) + 73 * 3600), "send_at"),
    ("send_at text", lambda b: b.update(send_at="tomorrow"), "send_at"),
    ("bad asm", lambda b: b.update(asm={"group_id": "7"}), "asm.group_id"),
]


@pytest.mark.parametrize(("case", "change", "field"), REJECTED, ids=[c[0] for c in REJECTED])
def test_what_sendgrid_rejects_is_rejected(case, change, field):
    assert field in fields(edit(change)), case


def test_at_most_1000_personalizations():
    assert fields(valid_body(1000)) == []
    assert fields(valid_body(1001)) == ["personalizations"]


def test_at_most_1000_recipients_over_to_cc_and_bcc():
    body = valid_body(500)
    for i, item in enumerate(body["personalizations"]):
        item["cc"] = [{"email": f"cc{i}@example.org"}]
    assert fields(body) == []
    body["personalizations"][0]["bcc"] = [{"email": "one.more@example.org"}]
    assert fields(body) == ["personalizations"]


def test_an_address_twice_in_one_request_is_rejected_whatever_its_case():
    body = valid_body(3)
    body["personalizations"][2]["to"] = [{"email": "READER0@example.org"}]
    errors = validate_mail(body)
    assert [e.field for e in errors] == ["personalizations.2.to"]
    assert "[READER0@example.org]" in errors[0].message


def test_a_subject_in_every_personalization_is_enough():
    body = valid_body()
    body.pop("subject")
    for item in body["personalizations"]:
        item["subject"] = "Per person"
    assert fields(body) == []


def test_ten_categories_of_255_characters_pass():
    body = valid_body()
    body["categories"] = [str(i) * 255 for i in range(10)]
    assert fields(body) == []


def test_a_body_that_is_not_an_object_is_rejected():
    assert fields([valid_body()]) == [None]


# --------------------------------------------------------------------------
# Through the real sendgrid client


def test_accepts_a_valid_request_with_202_and_a_message_id(fake):
    response = client(fake).send(valid_body())
    assert response.status_code == 202 and response.body == b""
    message_id = response.headers["X-Message-Id"]
    assert [a.message_id for a in fake.accepted] == [message_id]


def test_rebuilds_each_recipients_message(fake):
    client(fake).send(valid_body())
    second = fake.deliveries()[1]
    assert second.email == "reader1@example.org"
    assert second.subject == "Hello Reader 1"
    assert second.text == "Dear Reader 1 (62701)"
    assert second.html == "<p>Dear Reader 1</p>"
    assert second.custom_args == {"alerts_campaign": "4", "alerts_recipient": "1"}
    assert second.headers == {"List-Unsubscribe": "<https://act.example.org/u/1>"}
    assert (second.from_email, second.reply_to) == ("updates@example.org", "team@example.org")


def test_substitution_values_are_not_substituted_again(fake):
    body = valid_body(1)
    body["personalizations"][0]["substitutions"] = {"-a-": "-b-", "-b-": "B"}
    body["content"] = [{"type": "text/plain", "value": "-a- -b-"}]
    client(fake).send(body)
    assert fake.deliveries()[0].text == "-b- B"


def http_error(fake: FakeSendGrid, body: Any, key: str = "SG.test") -> http_errors.HTTPError:
    with pytest.raises(http_errors.HTTPError) as caught:
        client(fake, key).send(body)
    return caught.value


def test_rejects_with_sendgrids_json_error_body(fake):
    body = valid_body()
    body["personalizations"][0]["to"][0]["email"] = "broken"
    error = http_error(fake, body)
    assert isinstance(error, http_errors.BadRequestsError)
    errors = error.to_dict["errors"]
    assert errors[0]["field"] == "personalizations.0.to.0.email"
    assert set(errors[0]) == {"message", "field", "help"}
    assert fake.accepted == []


def test_the_api_key_is_checked(fake):
    with FakeSendGrid(api_key="SG.right") as strict:
        error = http_error(strict, valid_body(), key="SG.wrong")
        assert isinstance(error, http_errors.UnauthorizedError)
        assert error.to_dict["errors"][0]["field"] is None
        assert client(strict, "SG.right").send(valid_body()).status_code == 202


def test_a_request_without_a_bearer_token_is_refused(fake):
    request = urllib.request.Request(
        fake.url + "/v3/mail/send",
        data=json.dumps(valid_body()).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=2)
    assert caught.value.code == 401


def test_non_json_and_wrong_content_type_are_refused(fake):
    def post(data: bytes, content_type: str) -> int:
        request = urllib.request.Request(
            fake.url + "/v3/mail/send",
            data=data,
            headers={"Content-Type": content_type, "Authorization": "Bearer k"},
        )
        try:
            urllib.request.urlopen(request, timeout=2)
        except urllib.error.HTTPError as exc:
            return exc.code
        return 202

    assert post(b"{not json", "application/json") == 400
    assert post(json.dumps(valid_body()).encode(), "text/plain") == 415


def test_a_body_over_the_size_limit_is_413(fake):
    fake.max_body_bytes = 1000
    error = http_error(fake, valid_body(10))
    assert isinstance(error, http_errors.PayloadTooLargeError)


def test_sandbox_mode_answers_200_and_delivers_nothing(fake):
    body = valid_body()
    body["mail_settings"] = {"sandbox_mode": {"enable": True}}
    assert client(fake).send(body).status_code == 200
    assert fake.accepted == []


def test_other_paths_and_methods(fake):
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(fake.url + "/v3/mail/send", timeout=2)
    assert caught.value.code == 405
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(fake.url + "/v3/other", timeout=2)
    assert caught.value.code == 404


# --------------------------------------------------------------------------
# Faults


def test_429_carries_the_rate_limit_reset(fake):
    fake.inject(Fault("status", status=429, reset_after=5))
    error = http_error(fake, valid_body())
    assert isinstance(error, http_errors.TooManyRequestsError)
    assert error.to_dict == {
        "errors": [
            {
                "message": "too many requests",
                "field": None,
                "help": error.to_dict["errors"][0]["help"],
            }
        ]
    }
    reset = int(error.headers["X-RateLimit-Reset"])
    assert time.time() + 4 <= reset <= time.time() + 7
    assert client(fake).send(valid_body()).status_code == 202  # the fault was used up


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, http_errors.InternalServerError),
        (503, http_errors.ServiceUnavailableError),
        (502, http_errors.HTTPError),
        (413, http_errors.PayloadTooLargeError),
        (401, http_errors.UnauthorizedError),
        (403, http_errors.ForbiddenError),
    ],
)
def test_status_faults(fake, status, kind):
    fake.inject(Fault("status", status=status, times=2))
    for _ in range(2):
        error = http_error(fake, valid_body())
        assert type(error) is kind and error.status_code == status
    assert client(fake).send(valid_body()).status_code == 202
    assert fake.accepted and len(fake.accepted) == 1


def test_dropped_connections(fake):
    fake.inject(Fault("drop_before_body"), Fault("drop_after_body"))
    for _ in range(2):
        with pytest.raises((ConnectionError, OSError)):
            client(fake).send(valid_body(1))
    assert len(fake.accepted) == 1  # the drop after the body: SendGrid had it
    assert [r.fault for r in fake.requests] == ["drop_before_body", "drop_after_body"]


def test_a_slow_answer_times_the_client_out_but_was_accepted(fake):
    fake.inject(Fault("slow", delay=1.0))
    sg = client(fake)
    sg.client.timeout = 0.3
    with pytest.raises(TimeoutError):
        sg.send(valid_body())
    assert len(fake.accepted) == 1


def test_a_hung_request_is_never_read_and_the_client_times_out(fake):
    fake.inject(Fault("hang", delay=1.0))
    sg = client(fake)
    sg.client.timeout = 0.3
    with pytest.raises(TimeoutError):
        sg.send(valid_body())
    assert fake.accepted == [] and [r.fault for r in fake.requests] == ["hang"]
    sg.send(valid_body())  # the next request is served
    assert len(fake.accepted) == 1


def test_webhook_events_describe_each_accepted_message(fake):
    body = valid_body(2)
    for index, item in enumerate(body["personalizations"]):
        item["custom_args"] = {"alerts_campaign": "7", "alerts_recipient": str(index + 1)}
    client(fake).send(body)
    events = webhook_events(fake.deliveries(), "delivered")
    message_id = fake.accepted[0].message_id
    assert [e["alerts_recipient"] for e in events] == ["1", "2"]
    assert {e["event"] for e in events} == {"delivered"}
    assert all(e["sg_message_id"].startswith(message_id + ".") for e in events)
    assert len({e["sg_event_id"] for e in events}) == 2
    assert [e["email"] for e in events] == [d.email for d in fake.deliveries()]


def test_a_bad_address_fault_names_that_address_until_cleared(fake):
    fake.inject(Fault("bad_address", address="Reader1@example.org"))
    for _ in range(2):
        error = http_error(fake, valid_body())
        assert [e["field"] for e in error.to_dict["errors"]] == ["personalizations.1.to.0.email"]
    fake.clear_faults()
    assert client(fake).send(valid_body()).status_code == 202


def test_latency_delays_every_answer(fake):
    fake.latency = 0.2
    started = time.perf_counter()
    client(fake).send(valid_body())
    assert time.perf_counter() - started >= 0.2


def test_bad_fault_specs_are_refused():
    with pytest.raises(ValueError, match="fault kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="needs an address"):
        Fault("bad_address")


# --------------------------------------------------------------------------
# Standalone, across processes


@pytest.fixture
def standalone(tmp_path: Any) -> Any:
    port = free_port()
    store = tmp_path / "delivered.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alerts.delivery.providers.sendgrid.standin",
            "--port",
            str(port),
            "--store",
            str(store),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening on" in (process.stdout.readline() if process.stdout else "")
        yield f"http://127.0.0.1:{port}", store
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_standalone_server_records_to_its_store_and_takes_faults_by_control(standalone):
    url, store = standalone
    sg = SendGridAPIClient(api_key="k", host=url)
    sg.client.timeout = 5
    assert sg.send(valid_body(3)).status_code == 202
    control(url, faults=[Fault("status", status=503)], latency_ms=10)
    with pytest.raises(http_errors.ServiceUnavailableError):
        sg.send(valid_body(1))
    assert stats(url)["accepted_requests"] == 1
    assert [d.email for d in iter_store(store)] == [f"reader{i}@example.org" for i in range(3)]
    assert read_store(store)[0].body["subject"] == "Hello -name-"
    assert control(url, reset=True, clear_faults=True)["requests"] == 0


def test_control_refuses_a_bad_command(standalone):
    url, _ = standalone
    request = urllib.request.Request(
        url + "/_fake/control", data=json.dumps({"faults": [{"kind": "nope"}]}).encode()
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 400


def test_validation_leaves_the_body_unchanged():
    body = valid_body()
    before = copy.deepcopy(body)
    validate_mail(body)
    assert body == before
