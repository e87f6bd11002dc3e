"""Two HSS accounts in one bot, end to end: two FakeHss on loopback, fake Slack, real runtime.

Profile `alpha` (cn-north-4, #exports) and `beta` (ap-southeast-1, its own channel, Alice
only) each have their own endpoint, project id and AK/SK; each FakeHss accepts only its
own keys and project id, so a call signed with the wrong profile's keys fails there.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from e2e_harness import VALID, Bot, running_bot
from slack_harness import ALICE, EXPORTS, wait_for

from bot.domain import approval_blocks as ui
from bot.domain import home
from emulators.fake_hss import FakeHss
from emulators.fake_slack import Posted

BOB = "U0BOB0001"
BETA_CHANNEL = "C0BETACHAN"
A_AK, A_SK = "AKMARKERALPHA0000000", "SKMARKER-alpha-secret-00000000000000001"
B_AK, B_SK = "AKMARKERBETA00000000", "SKMARKER-beta-secret-000000000000000002"


def _profiles_file(tmp_path: Path, alpha: FakeHss, beta: FakeHss) -> Path:
    path = tmp_path / "profiles.toml"
    path.write_text(
        f"""
[profiles.alpha]
region = "cn-north-4"
endpoint = "{alpha.url}"
project_id = "{alpha.project_id}"
ak_env = "ALPHA_AK"
sk_env = "ALPHA_SK"
channels = ["{EXPORTS}"]

[profiles.beta]
region = "ap-southeast-1"
endpoint = "{beta.url}"
project_id = "{beta.project_id}"
ak_env = "BETA_AK"
sk_env = "BETA_SK"
channels = ["{BETA_CHANNEL}"]
allowed_user_ids = ["{ALICE}"]
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
async def two_hss(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[FakeHss, FakeHss]]:
    """Two HSS accounts, each knowing only its own keys and project."""
    for name, value in {
        "ALPHA_AK": A_AK,
        "ALPHA_SK": A_SK,
        "BETA_AK": B_AK,
        "BETA_SK": B_SK,
    }.items():
        monkeypatch.setenv(name, value)
    async with (
        FakeHss(ak=A_AK, sk=A_SK, project_id="project-alpha", task_prefix="alpha") as alpha,
        FakeHss(ak=B_AK, sk=B_SK, project_id="project-beta", task_prefix="beta") as beta,
    ):
        yield alpha, beta


def _overrides(tmp_path: Path, alpha: FakeHss, beta: FakeHss) -> dict[str, object]:
    # No legacy account: the file's two profiles are all there is.
    return {
        "HSS_PROFILES_FILE": str(_profiles_file(tmp_path, alpha, beta)),
        "HSS_PROJECT_ID": "",
        "CLOUD_SDK_AK": "",
        "CLOUD_SDK_SK": "",
        "ALLOWED_USER_IDS": f"{ALICE},{BOB}",
        "ALLOWED_CHANNEL_IDS": "",
        "LOG_LEVEL": "INFO",
    }


def _creates(hss: FakeHss) -> int:
    return len([c for c in hss.calls if c.op == "create"])


def _secrets_in(hss: FakeHss) -> str:
    return json.dumps([[c.headers, c.query, c.body, c.path] for c in hss.calls], default=str)


async def _records(bot: Bot) -> list[dict[str, object]]:
    return [dict(e.request) for e in await bot.entries() if e.request is not None]


async def test_commands_go_to_their_profile_and_files_come_back_from_each(
    tmp_path: Path, two_hss: tuple[FakeHss, FakeHss], caplog: pytest.LogCaptureFixture
) -> None:
    """Mapped channel, `profile=` override and a forbidden profile, with each profile's keys."""
    alpha, beta = two_hss
    async with running_bot(tmp_path, alpha, **_overrides(tmp_path, alpha, beta)) as bot:
        assert (await bot.slash(VALID)).status == 200  # #exports: alpha
        await wait_for(lambda: _creates(alpha) == 1)
        await bot.slash(VALID, channel_id=BETA_CHANNEL)  # beta's channel
        await wait_for(lambda: _creates(beta) == 1)
        await bot.slash(f"profile=beta {VALID}")  # override in #exports
        await wait_for(lambda: _creates(beta) == 2)
        refused = await bot.slash(f"profile=beta {VALID}", user_id=BOB)  # Bob may not use beta
        assert "may not use the HSS profile beta" in refused.text
        assert "you may use: alpha" in refused.text.lower()
        await wait_for(lambda: len(bot.slack.files) == 3, 20)
        await bot.settle()
        # Status finds the task's profile from the audit log: beta's task is asked of beta.
        beta_task = next(c for c in beta.calls if c.op == "create")
        beta_task_id = next(iter(beta.tasks))
        polls_before = len([c for c in beta.calls if c.op == "status"])
        await bot.slash(f"status {beta_task_id}")
        await bot.settle()
        assert len([c for c in beta.calls if c.op == "status"]) == polls_before + 1
        records = await _records(bot)
        entries = await bot.entries()
        assert (await bot.verify()).ok

    assert _creates(alpha) == 1
    assert _creates(beta) == 2
    # Every call each fake answered was signed with its own keys (a wrong key gets 401).
    assert all(c.status is not None and c.status < 400 for c in alpha.calls + beta.calls)
    assert all(A_AK in c.headers["authorization"] for c in alpha.calls)
    assert all(B_AK in c.headers["authorization"] for c in beta.calls)
    # Marker secrets: no secret of one profile in the other's requests, none in logs or audit.
    assert B_AK not in _secrets_in(alpha)
    assert B_SK not in _secrets_in(alpha)
    assert A_AK not in _secrets_in(beta)
    assert A_SK not in _secrets_in(beta)
    assert beta_task.headers.get("x-project-id") == "project-beta"
    logged = caplog.text + json.dumps([e.extra for e in entries], default=str)
    for marker in (A_AK, A_SK, B_AK, B_SK):
        assert marker not in logged
    # The audit records say where each went, inside the hash chain.
    placed = [(r.get("profile"), r.get("region"), r.get("project_id")) for r in records]
    assert placed.count(("alpha", "cn-north-4", "project-alpha")) == 1
    assert placed.count(("beta", "ap-southeast-1", "project-beta")) == 2
    denied = [e for e in entries if e.outcome == "denied"]
    assert len(denied) == 1
    assert denied[0].user_id == BOB
    assert denied[0].request is not None
    assert denied[0].request["profile"] == "beta"


async def test_a_task_of_each_profile_is_delivered_after_a_restart(
    tmp_path: Path, two_hss: tuple[FakeHss, FakeHss]
) -> None:
    """Tasks still running at shutdown are finished by the next process, each under its profile."""
    alpha, beta = two_hss
    alpha.polls_until_done = beta.polls_until_done = 10_000  # they outlive the first process
    overrides = _overrides(tmp_path, alpha, beta)
    async with running_bot(tmp_path, alpha, **overrides) as bot:
        await bot.slash(VALID)
        await bot.slash(VALID, channel_id=BETA_CHANNEL)
        await wait_for(lambda: _creates(alpha) == 1 and _creates(beta) == 1)
        await bot.settle()
        tracked = await bot.runtime.tasks.get(next(iter(beta.tasks)))
        assert tracked is not None
        assert tracked.profile == "beta"
    for hss in (alpha, beta):
        for task in hss.tasks.values():
            task.polls_left = 0
    async with running_bot(tmp_path, alpha, **overrides) as again:
        await wait_for(lambda: len(again.slack.files) == 2, 20)
    assert any(c.op == "download" for c in alpha.calls)
    assert any(c.op == "download" for c in beta.calls)
    assert all(c.status is not None and c.status < 400 for c in alpha.calls + beta.calls)


async def test_profiles_lists_only_what_the_user_may_use_and_no_secret(
    tmp_path: Path, two_hss: tuple[FakeHss, FakeHss]
) -> None:
    """`/hss-export profiles`: Alice sees both, Bob only alpha; names, regions, projects only."""
    alpha, beta = two_hss
    async with running_bot(tmp_path, alpha, **_overrides(tmp_path, alpha, beta)) as bot:
        alice = await bot.slash("profiles")
        bob = await bot.slash("profiles", user_id=BOB)
    assert "*alpha*" in alice.text
    assert "*beta*" in alice.text
    assert "project `project-beta`" in alice.text
    assert f"default in <#{BETA_CHANNEL}>" in alice.text
    assert "*alpha*" in bob.text
    assert "beta" not in bob.text
    for answer in (alice, bob):
        assert answer.json["response_type"] == "ephemeral"
        for secret in (A_AK, A_SK, B_AK, B_SK, "BETA_SK", "ALPHA_AK"):
            assert secret not in answer.text


def _profile_select(view: dict[str, object]) -> dict[str, object] | None:
    blocks = view["blocks"]
    assert isinstance(blocks, list)
    return next((b for b in blocks if b.get("block_id") == "profile"), None)


async def test_the_form_offers_the_users_profiles_and_sends_to_the_one_chosen(
    tmp_path: Path, two_hss: tuple[FakeHss, FakeHss]
) -> None:
    """Alice's form has a Profile select (alpha preselected in #exports); Bob's has none."""
    alpha, beta = two_hss
    async with running_bot(tmp_path, alpha, **_overrides(tmp_path, alpha, beta)) as bot:
        await bot.slash("")
        await bot.slash("", user_id=BOB)
        alice_view, bob_view = (v.view for v in bot.slack.views)
        select = _profile_select(alice_view)
        assert select is not None
        element = select["element"]
        assert isinstance(element, dict)
        assert [o["value"] for o in element["options"]] == ["alpha", "beta"]
        assert element["initial_option"]["value"] == "alpha"
        assert _profile_select(bob_view) is None
        submitted = bot.slack.view_submission(
            bot.slack.views[0].id, values={"status": "Running", "profile": "beta"}
        )
        assert (await bot.send(submitted)).status == 200
        await wait_for(lambda: _creates(beta) == 1)
        await bot.settle()
    assert _creates(alpha) == 0


async def test_preview_shows_the_profiles_url_and_project(
    tmp_path: Path, two_hss: tuple[FakeHss, FakeHss]
) -> None:
    """`preview profile=beta` shows beta's endpoint and project in the URL, and sends nothing."""
    alpha, beta = two_hss
    async with running_bot(tmp_path, alpha, **_overrides(tmp_path, alpha, beta)) as bot:
        answer = await bot.slash("preview profile=beta status=running")
    assert f"{beta.url}/v5/project-beta/container/export-task" in answer.text
    assert B_SK not in answer.text
    assert beta.calls == []


async def test_a_workflow_step_goes_to_its_profile_and_obeys_its_allow_list(
    tmp_path: Path, two_hss: tuple[FakeHss, FakeHss]
) -> None:
    """The step's `profile` input picks the account; a user beta refuses fails the step there."""
    alpha, beta = two_hss
    step = {"callback_id": "hss_container_export"}
    async with running_bot(tmp_path, alpha, **_overrides(tmp_path, alpha, beta)) as bot:
        allowed = {"user_id": ALICE, "channel_id": EXPORTS, "profile": "beta", "status": "running"}
        await bot.send(bot.slack.function_executed(allowed, function=step))
        await wait_for(lambda: _creates(beta) == 1)
        refused = {"user_id": BOB, "channel_id": EXPORTS, "profile": "beta", "status": "running"}
        await bot.send(bot.slack.function_executed(refused, function=step))
        await wait_for(lambda: any(c.error for c in bot.slack.step_completions))
        entries = await bot.entries()

    assert (_creates(alpha), _creates(beta)) == (0, 1)
    (failure,) = [c for c in bot.slack.step_completions if c.error]
    assert failure.error is not None
    assert "may not use the HSS profile beta" in failure.error
    assert [(e.user_id, e.outcome) for e in entries if e.outcome == "denied"] == [(BOB, "denied")]


async def test_status_of_a_task_refuses_who_may_not_use_its_profile(
    tmp_path: Path, two_hss: tuple[FakeHss, FakeHss]
) -> None:
    """Bob may not use beta: `status` of beta's task is refused, audited, and HSS is not asked."""
    alpha, beta = two_hss
    async with running_bot(tmp_path, alpha, **_overrides(tmp_path, alpha, beta)) as bot:
        await bot.slash(f"profile=beta {VALID}")
        await wait_for(lambda: _creates(beta) == 1)
        await wait_for(lambda: len(bot.slack.files) == 1, 20)
        await bot.settle()
        (task_id,) = beta.tasks
        asked_before = len(beta.calls)
        await bot.slash(f"status {task_id}", user_id=BOB)
        await bot.settle()
        answer = bot.private_replies()[-1].all_text
        await bot.slash(f"status {task_id}")  # Alice may use beta: her status is answered
        await bot.settle()
        entries = await bot.entries()
        assert (await bot.verify()).ok

    assert "may not use the HSS profile beta" in answer
    assert f"Task {task_id} was created under it" in answer
    # Bob's status never reached HSS (neither account); Alice's did, at beta.
    assert [c.op for c in beta.calls[asked_before:]] == ["status"]
    assert all(c.op != "status" for c in alpha.calls)
    denied = [e for e in entries if e.outcome == "denied"]
    assert [(e.user_id, e.source) for e in denied] == [(BOB, "slash")]
    assert "may not use the HSS profile beta" in (denied[0].error or "")


async def test_a_task_id_another_profile_already_has_is_refused_not_mixed_up(
    tmp_path: Path, two_hss: tuple[FakeHss, FakeHss]
) -> None:
    """Both accounts answer `task-0001`: alpha's is delivered, beta's gets a notice, no mix-up."""
    alpha, beta = two_hss
    alpha.task_prefix = beta.task_prefix = "task"  # what real, UUID task ids never do
    async with running_bot(tmp_path, alpha, **_overrides(tmp_path, alpha, beta)) as bot:
        await bot.slash(VALID)
        await wait_for(lambda: len(bot.slack.files) == 1, 20)
        await bot.slash(f"profile=beta {VALID}")
        await wait_for(lambda: _creates(beta) == 1)
        await wait_for(lambda: any("cannot follow" in p.all_text for p in bot.channel_posts()))
        await bot.settle()
        tracked = await bot.runtime.tasks.list_tasks()
    (notice,) = [p for p in bot.channel_posts() if "cannot follow" in p.all_text]
    assert "gave profile beta the task id task-0001" in notice.all_text
    assert "hss-export-bot download task-0001" in notice.all_text
    assert [(t.task_id, t.profile) for t in tracked] == [("task-0001", "alpha")]
    assert len(bot.slack.files) == 1
    assert not any(c.op in ("status", "download") for c in beta.calls)  # nothing asked of beta


async def test_a_confirmed_broad_export_goes_to_the_channels_profile(
    tmp_path: Path, two_hss: tuple[FakeHss, FakeHss]
) -> None:
    """The Export button of a broad export in beta's channel sends it to beta, not the default."""
    alpha, beta = two_hss
    overrides = _overrides(tmp_path, alpha, beta) | {"CONFIRM_BROAD_EXPORTS": True}
    async with running_bot(tmp_path, alpha, **overrides) as bot:
        asked = await bot.slash("export_size=100000", channel_id=BETA_CHANNEL)
        assert "Export" in json.dumps(asked.json.get("blocks"))
        question = Posted(
            BETA_CHANNEL, asked.json["text"], asked.json["blocks"], "1.000001", None, ALICE
        )
        await bot.send(bot.slack.button_click(question, ui.CONFIRM_ACTION, user_id=ALICE))
        await wait_for(lambda: _creates(beta) == 1)
        await bot.settle()
        records = await _records(bot)
    assert _creates(alpha) == 0
    assert [(r.get("profile"), r.get("project_id")) for r in records] == [("beta", "project-beta")]


async def test_a_saved_export_keeps_the_profile_it_was_saved_under(
    tmp_path: Path, two_hss: tuple[FakeHss, FakeHss]
) -> None:
    """Saved in beta's channel without `profile=`: `saved` shows `profile=beta`, and Run now
    from the Home (which runs it in the DM, alpha's by default) still goes to beta."""
    alpha, beta = two_hss
    overrides = {**_overrides(tmp_path, alpha, beta), "HSS_DEFAULT_PROFILE": "alpha"}
    async with running_bot(tmp_path, alpha, **overrides) as bot:
        await bot.slash("save nightly status=running", channel_id=BETA_CHANNEL)
        listing = await bot.slash("saved", channel_id=BETA_CHANNEL)
        await bot.send(bot.slack.home.opened(ALICE))
        await wait_for(lambda: bool(bot.slack.home.published))
        shown = str(bot.slack.home.of(ALICE).view["blocks"])
        await bot.send(bot.slack.home.click(home.RUN_SAVED, value="nightly"))
        await wait_for(lambda: _creates(beta) == 1)
        await bot.settle()

    assert "profile=beta" in listing.text
    assert "*nightly* · `profile=beta status=running`" in shown
    assert _creates(alpha) == 0
