"""Configuration: environment variables over an optional TOML file, read once into a
frozen object (DESIGN.md §8). This is the only module that reads ``os.environ``."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from handlers.unit_chats import UnitChat
from i18n import LOCALES, N_
from petitions.deadlines import OFFICE_ZONE, DeadlinePolicy, WorkingDaysPolicy, monday_to_friday
from petitions.schedule import SchedulePolicy, parse_reminder
from petitions.statistics import MIN_PERIOD_DAYS
from petitions.units import valid_code
from petitions.warnings.urgent import (
    DEFAULT_SIGNS,
    KINDS,
    DangerSign,
    signs_from_config,
)
from storage.db import default_sqlite_url, is_sqlite

__all__ = [
    "RetentionSettings",
    "Settings",
    "SettingsError",
    "TelegramSettings",
    "WeComSettings",
    "WebSettings",
    "holiday_calendar",
    "load_settings",
]

log = logging.getLogger(__name__)


class SettingsError(Exception):
    """The configuration is incomplete or wrong; the message says which setting and why
    (English, for logs and tests); ``code`` (a message id, ``settings.*``) and ``params``
    let a UI say it in its language. Setting names, file names and examples are params, so
    that a translation shows them as they are typed."""

    def __init__(self, message: str, code: str = "", /, **params: object) -> None:
        super().__init__(message)
        self.code = code
        self.params = params


def _toml_error(
    message: str, codes: tuple[str, str], exc: tomllib.TOMLDecodeError, **params: object
) -> SettingsError:
    """A file that is not TOML: ``codes`` are the message ids without and with a place;
    where tomllib says it stopped (its message's "(at line L, column C)", the only place
    Python 3.11 gives it) becomes the params line and column."""
    at = _TOML_AT.search(str(exc))
    if at is None:
        return SettingsError(message, codes[0], **params, format="TOML")
    return SettingsError(message, codes[1], **params, format="TOML", line=at[1], column=at[2])


def _os_error(message: str, code: str, exc: OSError, **params: object) -> SettingsError:
    """A file that cannot be read: the system's errno and (English) reason as params."""
    return SettingsError(message, code, **params, errno=exc.errno, reason=exc.strerror)


_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class TelegramSettings:
    """Telegram channel settings."""

    token: str = field(repr=False)
    admin_chat_id: int | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    api_base_url: str = "https://api.telegram.org/bot"

    @property
    def file_base_url(self) -> str:
        """The file-download address derived from the API address (``.../file/bot``)."""
        base = self.api_base_url.rstrip("/")
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return base + "/file/bot"


@dataclass(frozen=True)
class WeComSettings:
    """WeCom (企业微信) self-built app settings."""

    corp_id: str
    agent_id: int
    secret: str = field(repr=False)
    token: str = field(repr=False)
    aes_key: str = field(repr=False)
    api_base_url: str = "https://qyapi.weixin.qq.com"
    replay_window: int = 300
    admin_chat_id: str | None = None


@dataclass(frozen=True)
class WebSettings:
    """Web channel settings (employee page and officers' admin page)."""

    secure_cookies: bool = False  # set behind HTTPS (a TLS-terminating proxy)
    max_upload_mb: int = 20
    officer_session_hours: int = 12
    officer_idle_minutes: int = 120
    local: bool = False  # local mode: demo officer and the side-by-side page
    # Direct peers whose X-Forwarded-Proto is believed (a TLS-terminating proxy).
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


@dataclass(frozen=True)
class RetentionSettings:
    """How long each kind of data is kept before the scheduler purges it (docs/retention.md).

    ``cases_years`` counts from a case's closing (or withdrawal); 0 keeps case content for
    ever. Delivered (``sent``/``unreachable``) and ``failed`` outbox rows count from the
    time they were last due. The audit trail is never purged.
    """

    cases_years: int = 10
    outbox_days: int = 30
    failed_outbox_days: int = 180


@dataclass(frozen=True)
class Settings:
    """Everything the service is configured with."""

    data_dir: Path
    database_url: str = field(repr=False)
    keyring_file: Path
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    log_level: str = "INFO"
    log_format: str = "plain"  # plain | json (one JSON object per line)
    # /metrics (Prometheus): off unless asked for; a Bearer token when one is set.
    metrics: bool = False
    metrics_token: str | None = field(default=None, repr=False)
    # /readyz: a due outbox row waiting longer than this means delivery is stuck.
    ready_outbox_minutes: int = 10
    default_locale: str = "zh_CN"
    draft_ttl: timedelta = timedelta(hours=24)
    policy: DeadlinePolicy = field(default_factory=DeadlinePolicy)
    schedule: SchedulePolicy = field(default_factory=SchedulePolicy)
    # (channel, chat id) of the leaders' chat(s) for overdue alerts and escalations.
    leaders_chats: tuple[tuple[str, str], ...] = ()
    # Units' own admin chats and leaders' chats (docs/operations.md, handlers/unit_chats.py);
    # the single admin chat variables and XINFANG_LEADERS_CHAT are the root unit's.
    unit_chats: tuple[UnitChat, ...] = ()
    unit_leaders_chats: tuple[UnitChat, ...] = ()
    # The deployment's staff-number format, looked for in anonymous texts (a regex).
    staff_no_pattern: str | None = None
    # Statistics cover at least this many days, so that few cases cannot be singled out.
    stats_min_days: int = MIN_PERIOD_DAYS
    # The early warning's window: petitions of this many days are compared (issue 16).
    warnings_days: int = 90
    # Urgent petitions (handlers/urgent.py): hotlines (name, number) given to an employee
    # who wrote of self-harm, and the danger signs looked for (defaults + a file's own).
    hotlines: tuple[tuple[str, str], ...] = ()
    danger_signs: tuple[DangerSign, ...] = DEFAULT_SIGNS
    # How real-name identities are sealed: 1of1 (one custodian) or 2of3 (any two of three
    # custodians together); see docs/custody.md.
    disclosure: str = "1of1"
    # `xinfang run` refuses to start while a custodian private key sits in the data or
    # keyring directory, unless this is set.
    allow_custodian_key_on_server: bool = False
    # For tests and automation only: the passphrase of custodian key files (else asked).
    custodian_passphrase: str | None = field(default=None, repr=False)
    # A folder of notice templates (告知书 / 意见书) replacing the shipped ones file by
    # file; see docs/notices.md. None: the shipped templates.
    notice_templates: Path | None = None
    # The issuing office's name on a notice when the case has no handling unit yet.
    office_name: str = "信访办公室"
    # How long closed cases' content, outbox rows, ... are kept (bot/retention.py).
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    telegram: TelegramSettings | None = None
    wecom: WeComSettings | None = None
    web: WebSettings | None = None

    @property
    def embedded(self) -> bool:
        """True when running on the embedded SQLite default."""
        return is_sqlite(self.database_url)

    @property
    def channels(self) -> tuple[str, ...]:
        """The chat channels that are configured."""
        names = []
        if self.telegram:
            names.append("telegram")
        if self.wecom:
            names.append("wecom")
        if self.web:
            names.append("web")
        return tuple(names)

    @property
    def admin_channels(self) -> tuple[str, ...]:
        """Channels with an admin chat (or officers) that receive case cards."""
        names = []
        if self.telegram and self.telegram.admin_chat_id is not None:
            names.append("telegram")
        if self.wecom:
            names.append("wecom")
        if self.web:
            names.append("web")  # the officers' page is the web channel's admin chat
        return tuple(names)


def _flatten(data: Mapping[str, Any]) -> dict[str, str]:
    # [xinfang] data_dir = ... → XINFANG_DATA_DIR; [telegram] bot_token → TELEGRAM_BOT_TOKEN
    flat: dict[str, str] = {}
    for section, values in data.items():
        if not isinstance(values, Mapping):
            raise SettingsError(
                f"config file: [{section}] must be a table",
                N_("settings.table_expected"),
                section=section,
            )
        for key, value in values.items():
            flat[f"{section}_{key}".upper()] = str(value)
    return flat


def _int(values: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = values.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(
            f"{name} must be a whole number, got {raw!r}",
            N_("settings.not_whole"),
            name=name,
            got=repr(raw),
        ) from None
    if value < minimum:
        raise SettingsError(
            f"{name} must be at least {minimum}, got {value}",
            N_("settings.too_small"),
            name=name,
            minimum=minimum,
            got=value,
        )
    return value


def _port(values: Mapping[str, str]) -> int:
    name = "XINFANG_HTTP_PORT"
    port = _int(values, name, 8080, minimum=0)
    if port > 65535:
        raise SettingsError(
            f"{name} must be at most 65535, got {port}",
            N_("settings.too_large"),
            name=name,
            maximum=65535,
            got=port,
        )
    return port


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    *,
    today: date | None = None,
) -> Settings:
    """Read the configuration once: TOML file (optional) overridden by the environment."""
    env = dict(os.environ if environ is None else environ)
    path = config_file or (Path(env["XINFANG_CONFIG"]) if env.get("XINFANG_CONFIG") else None)
    values: dict[str, str] = {}
    if path is not None:
        try:
            values.update(_flatten(tomllib.loads(path.read_text(encoding="utf-8"))))
        except OSError as exc:
            raise _os_error(
                f"cannot read config file {path}: {exc.strerror}",
                N_("settings.config_unreadable"),
                exc,
                path=path,
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise _toml_error(
                f"config file {path} is not valid TOML: {exc}",
                (N_("settings.config_not_toml"), N_("settings.config_not_toml_at")),
                exc,
                path=path,
            ) from None
    values.update(
        {k: v for k, v in env.items() if k.startswith(("XINFANG_", "TELEGRAM_", "WECOM_"))}
    )

    data_dir = Path(values.get("XINFANG_DATA_DIR") or "./xinfang-data")
    database_url = values.get("XINFANG_DATABASE_URL") or default_sqlite_url(data_dir)
    locale = values.get("XINFANG_DEFAULT_LOCALE", "zh_CN")
    if locale not in LOCALES:
        raise SettingsError(
            f"XINFANG_DEFAULT_LOCALE must be one of {', '.join(LOCALES)}",
            N_("settings.locale"),
            name="XINFANG_DEFAULT_LOCALE",
            choices=", ".join(LOCALES),
        )
    working = _flag(values, "XINFANG_WORKING_DAYS")
    calendar_name = (values.get("XINFANG_HOLIDAY_CALENDAR") or "").strip().lower()
    if calendar_name and not working:
        raise SettingsError(
            "XINFANG_HOLIDAY_CALENDAR says which working days count: "
            "set XINFANG_WORKING_DAYS=true as well",
            N_("settings.calendar_needs_working_days"),
            name="XINFANG_HOLIDAY_CALENDAR",
            setting="XINFANG_WORKING_DAYS=true",
        )
    extra: dict[str, Any] = {}
    if working:
        extra["is_working_day"] = holiday_calendar(
            calendar_name, today or datetime.now(OFFICE_ZONE).date()
        )
    followup_days = _int(values, "XINFANG_FOLLOWUP_DAYS", 30, minimum=0)
    reminders = tuple(
        p.strip() for p in (values.get("XINFANG_REMINDERS") or "50%,3d").split(",") if p.strip()
    )
    for spec in reminders:
        _reminder(spec)
    digest_hour = _int(values, "XINFANG_DIGEST_HOUR", 9, minimum=0)
    if digest_hour > 23:
        # SchedulePolicy's own words, as before; the setting's name for a translation.
        raise SettingsError(
            "digest_hour must be between 0 and 23",
            N_("settings.digest_hour"),
            name="XINFANG_DIGEST_HOUR",
            least=0,
            most=23,
        )
    try:
        policy = (WorkingDaysPolicy if working else DeadlinePolicy)(
            **extra,
            accept_days=_int(values, "XINFANG_ACCEPT_DAYS", 15, minimum=1),
            handle_days=_int(values, "XINFANG_HANDLE_DAYS", 60, minimum=1),
            extension_max_days=_int(values, "XINFANG_EXTENSION_MAX_DAYS", 30, minimum=1),
            review_request_days=_int(values, "XINFANG_REVIEW_REQUEST_DAYS", 30, minimum=1),
            review_days=_int(values, "XINFANG_REVIEW_DAYS", 30, minimum=1),
            followup_days=followup_days or 30,
            # Without a follow-up the address serves only the closing message.
            contact_keep_days=followup_days + 14 if followup_days else 3,
            digest_window_days=_int(values, "XINFANG_DIGEST_DAYS", 3, minimum=1),
            urgent_accept_days=_int(values, "XINFANG_URGENT_ACCEPT_DAYS", 3, minimum=1),
        )
        schedule = SchedulePolicy(
            reminders=reminders,
            digest_hour=digest_hour,
            follow_up=followup_days > 0,  # 0 turns the follow-up off
        )
    except ValueError as exc:
        # What the domain still refuses (a working-day calendar without working days):
        # its English reason, in a translated frame.
        raise SettingsError(str(exc), N_("settings.policy"), reason=str(exc)) from None
    telegram, wecom = _telegram(values), _wecom(values)
    unit_chats = _unit_chats(values, "XINFANG_UNIT_CHATS", telegram, wecom)
    unit_leaders_chats = _unit_chats(values, "XINFANG_UNIT_LEADERS_CHATS", telegram, wecom)
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        keyring_file=Path(
            values.get("XINFANG_KEYRING_FILE") or data_dir / "keys" / "keyring.json"
        ),
        http_host=values.get("XINFANG_HTTP_HOST", "127.0.0.1"),
        http_port=_port(values),
        log_level=values.get("XINFANG_LOG_LEVEL", "INFO").upper(),
        log_format=_log_format(values),
        metrics=_flag(values, "XINFANG_METRICS"),
        metrics_token=values.get("XINFANG_METRICS_TOKEN") or None,
        ready_outbox_minutes=_int(values, "XINFANG_READY_OUTBOX_MINUTES", 10, minimum=1),
        default_locale=locale,
        draft_ttl=timedelta(hours=_int(values, "XINFANG_DRAFT_TTL_HOURS", 24, minimum=1)),
        policy=policy,
        schedule=schedule,
        leaders_chats=_leaders_chats(values),
        unit_chats=unit_chats,
        unit_leaders_chats=unit_leaders_chats,
        staff_no_pattern=_staff_no_pattern(values),
        stats_min_days=_int(values, "XINFANG_STATS_MIN_DAYS", MIN_PERIOD_DAYS, minimum=1),
        warnings_days=_int(values, "XINFANG_WARNINGS_DAYS", 90, minimum=14),
        hotlines=_hotlines(values),
        danger_signs=_danger_signs(values),
        disclosure=_disclosure(values),
        allow_custodian_key_on_server=_flag(values, "XINFANG_ALLOW_CUSTODIAN_KEY_ON_SERVER"),
        custodian_passphrase=values.get("XINFANG_CUSTODIAN_PASSPHRASE") or None,
        notice_templates=_notice_templates(values),
        office_name=(values.get("XINFANG_OFFICE_NAME") or "").strip()[:100] or "信访办公室",
        retention=_retention(values),
        telegram=telegram,
        wecom=wecom,
        web=_web(values),
    )


def _reminder(spec: str) -> None:
    """Refuse a reminder point of XINFANG_REMINDERS with the domain's words (English)."""
    try:
        parse_reminder(spec)
    except ValueError as exc:
        value = spec.strip().lower()
        # The rule it breaks, as the domain's English says it: 0% or 0d have the form
        # (up to two digits and %, three and d) but not the size; the rest not the form.
        number = value[:-1]
        code = N_("settings.reminder_form")
        if value.endswith("%") and number.isdigit() and len(number) <= 2:
            code = N_("settings.reminder_percent")
        elif value.endswith("d") and number.isdigit() and len(number) <= 3:
            code = N_("settings.reminder_days")
        raise SettingsError(
            str(exc),
            code,
            name="XINFANG_REMINDERS",
            got=repr(spec),
            percent="50%",
            days="3d",
            least="1%",
            most="99%",
            least_days="1d",
        ) from None


def holiday_calendar(name: str, today: date) -> Callable[[date], bool]:
    """The working-day predicate for XINFANG_HOLIDAY_CALENDAR (empty or ``none``: Mon–Fri).

    ``cn`` is the official calendar of the State Council from the ``chinese-calendar``
    package: public holidays are off and the weekend days swapped for them (调休) are
    working days. The package knows a fixed range of years. Dates in a year it does not
    know (a package not yet upgraded after New Year, or a December deadline reaching into
    a year whose schedule is not published) count Monday to Friday, with a warning logged
    once per year, until the package is upgraded and the service restarted: a service
    that stopped on the first of January would be worse than deadlines a holiday early.
    """
    if name in ("", "none", "off"):
        return monday_to_friday
    if name != "cn":
        raise SettingsError(
            f"XINFANG_HOLIDAY_CALENDAR must be cn or none, got {name!r}",
            N_("settings.either"),
            name="XINFANG_HOLIDAY_CALENDAR",
            first="cn",
            second="none",
            got=repr(name),
        )
    try:
        import chinese_calendar
    except ImportError:
        raise SettingsError(
            "XINFANG_HOLIDAY_CALENDAR=cn needs the chinese-calendar package: "
            "pip install chinese-calendar",
            N_("settings.calendar_package"),
            setting="XINFANG_HOLIDAY_CALENDAR=cn",
            package="chinese-calendar",
            command="pip install chinese-calendar",
        ) from None
    version = getattr(chinese_calendar, "__version__", "?")
    warned: set[int] = set()

    def is_working_day(day: date) -> bool:
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in warned:
                warned.add(day.year)
                log.warning(
                    "chinese-calendar %s does not know the official holidays of %s: "
                    "deadlines in %s count Monday to Friday until it is upgraded and the "
                    "service restarted",
                    version,
                    day.year,
                    day.year,
                )
            return monday_to_friday(day)

    return is_working_day


def _notice_templates(values: Mapping[str, str]) -> Path | None:
    # The templates themselves are checked when they are loaded at start (bot.notices).
    raw = (values.get("XINFANG_NOTICE_TEMPLATES") or "").strip()
    if not raw:
        return None
    path = Path(raw)
    if not path.is_dir():
        raise SettingsError(
            f"XINFANG_NOTICE_TEMPLATES must be a folder, got {raw!r}",
            N_("settings.not_folder"),
            name="XINFANG_NOTICE_TEMPLATES",
            got=repr(raw),
        )
    return path


def _retention(values: Mapping[str, str]) -> RetentionSettings:
    audit = (values.get("XINFANG_RETAIN_AUDIT_YEARS") or "").strip().lower()
    if audit not in ("", "0", "never"):
        # Purging audit entries would need a verifiable checkpoint of the chain; until
        # then, a setting that cannot be honoured stops the start instead of being ignored.
        raise SettingsError(
            "XINFANG_RETAIN_AUDIT_YEARS: the audit trail is kept for ever, purging it is "
            f"not supported (docs/retention.md); leave it unset or 0, got {audit!r}",
            N_("settings.audit_kept"),
            name="XINFANG_RETAIN_AUDIT_YEARS",
            doc="docs/retention.md",
            got=repr(audit),
        )
    return RetentionSettings(
        cases_years=_int(values, "XINFANG_RETAIN_CASES_YEARS", 10, minimum=0),
        outbox_days=_int(values, "XINFANG_RETAIN_OUTBOX_DAYS", 30, minimum=1),
        failed_outbox_days=_int(values, "XINFANG_RETAIN_FAILED_OUTBOX_DAYS", 180, minimum=1),
    )


def _log_format(values: Mapping[str, str]) -> str:
    raw = (values.get("XINFANG_LOG_FORMAT") or "plain").strip().lower()
    if raw not in ("plain", "json"):
        raise SettingsError(
            f"XINFANG_LOG_FORMAT must be plain or json, got {raw!r}",
            N_("settings.either"),
            name="XINFANG_LOG_FORMAT",
            first="plain",
            second="json",
            got=repr(raw),
        )
    return raw


def _leaders_chats(values: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    # XINFANG_LEADERS_CHAT=telegram:-1002222,wecom:leader1|leader2
    raw = values.get("XINFANG_LEADERS_CHAT") or ""
    chats = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        channel, sep, chat = part.partition(":")
        if not sep or channel not in ("telegram", "wecom", "web") or not chat:
            raise SettingsError(
                "XINFANG_LEADERS_CHAT must be CHANNEL:CHAT_ID[,...], "
                f"e.g. telegram:-1002222 or wecom:leader1|leader2; got {part!r}",
                N_("settings.leaders_chat_form"),
                name="XINFANG_LEADERS_CHAT",
                form="CHANNEL:CHAT_ID[,...]",
                example="telegram:-1002222",
                example2="wecom:leader1|leader2",
                got=repr(part),
            )
        chats.append((channel, chat))
    return tuple(chats)


def _unit_chats(
    values: Mapping[str, str],
    name: str,
    telegram: TelegramSettings | None,
    wecom: WeComSettings | None,
) -> tuple[UnitChat, ...]:
    """``CODE=CHANNEL:TARGET[,CHANNEL:TARGET...]`` per unit, units separated by ``;`` or
    new lines: a Telegram group's chat id, or on WeCom an app group chat id (leaders' chats:
    officer userids ``a|b``). Messages name the entry, never its chat ids or userids."""
    leaders = name == "XINFANG_UNIT_LEADERS_CHATS"
    example = (
        "JT=telegram:-1001234567890;JT-A=telegram:-1002,wecom:leader1|leader2"
        if leaders
        else "JT=telegram:-1001234567890;JT-A=telegram:-1002,wecom:wrCHATID"
    )
    raw = (values.get(name) or "").replace("\n", ";")
    chats: list[UnitChat] = []
    owners: dict[tuple[str, str], str] = {}
    for number, entry in enumerate((e.strip() for e in raw.split(";")), start=1):
        if not entry:
            continue
        code, sep, targets = (p.strip() for p in entry.partition("="))
        if not sep or not valid_code(code) or not targets.strip(" ,"):
            raise SettingsError(
                f"{name} entry {number} must be UNIT_CODE=CHANNEL:CHAT[,CHANNEL:CHAT], "
                f"units separated by ';', e.g. {example}",
                N_("settings.unit_chats_form"),
                name=name,
                number=number,
                form="UNIT_CODE=CHANNEL:CHAT[,CHANNEL:CHAT]",
                example=example,
            )
        for part in (p.strip() for p in targets.split(",")):
            if not part:
                continue
            channel, sep, target = (p.strip() for p in part.partition(":"))
            where = f"{name} entry {number} (unit {code})"
            # The entry's place for a translation (never its chat ids or userids).
            entry_of = {"name": name, "number": number, "unit": code}
            if not sep or channel not in ("telegram", "wecom") or not target:
                raise SettingsError(
                    f"{where}: each chat is telegram:CHAT_ID or wecom:ID, e.g. {example}",
                    N_("settings.unit_chat_target"),
                    **entry_of,
                    form="telegram:CHAT_ID",
                    form2="wecom:ID",
                    example=example,
                )
            if channel == "telegram":
                if telegram is None:
                    raise SettingsError(
                        f"{where} names a Telegram chat: set TELEGRAM_BOT_TOKEN",
                        N_("settings.unit_chat_needs_telegram"),
                        **entry_of,
                        telegram="Telegram",
                        env="TELEGRAM_BOT_TOKEN",
                    )
                try:
                    int(target)
                except ValueError:
                    raise SettingsError(
                        f"{where}: a Telegram chat id is a number like -1001234567890",
                        N_("settings.unit_chat_telegram_id"),
                        **entry_of,
                        telegram="Telegram",
                        example="-1001234567890",
                    ) from None
                if not leaders and int(target) == telegram.admin_chat_id:
                    raise SettingsError(
                        f"{where}: that chat is TELEGRAM_ADMIN_CHAT_ID, already the root "
                        "unit's admin chat; name it once",
                        N_("settings.unit_chat_is_admin"),
                        **entry_of,
                        env="TELEGRAM_ADMIN_CHAT_ID",
                    )
            else:
                if wecom is None:
                    raise SettingsError(
                        f"{where} names a WeCom chat: configure WeCom (WECOM_*)",
                        N_("settings.unit_chat_needs_wecom"),
                        **entry_of,
                        env="WECOM_*",
                    )
                if not leaders and ("|" in target or target == wecom.admin_chat_id):
                    # Officers on WeCom get their own units' cases without any list here
                    # (bot/wecom/sender.py); a unit's WeCom entry is an app group chat.
                    raise SettingsError(
                        f"{where}: on WeCom a unit's admin chat is one app group chat id "
                        "(officers are reached through their unit, `xinfang officers add "
                        "--unit`), and not WECOM_ADMIN_CHAT_ID, the root unit's",
                        N_("settings.unit_chat_wecom_target"),
                        **entry_of,
                        command="xinfang officers add --unit",
                        env="WECOM_ADMIN_CHAT_ID",
                    )
            if channel == "telegram":
                target = str(int(target))  # as the adapter spells an incoming chat's id
            chat = UnitChat(code, channel, target)
            if not leaders:
                # A group belongs to one unit: what an officer may do there follows from it.
                other = owners.setdefault((channel, target), code)
                if other != code:
                    raise SettingsError(
                        f"{where}: the same chat is also given to unit {other}; "
                        "a chat serves one unit",
                        N_("settings.unit_chat_shared"),
                        **entry_of,
                        other=other,
                    )
            if chat not in chats:
                chats.append(chat)
    return tuple(chats)


_HOTLINE_NUMBER = re.compile(r"^\+?[0-9][0-9\-]{1,19}$")
_HOTLINES_EXAMPLE = "心理援助热线 12356;24小时心理危机干预 400-161-9995"


def _hotlines(values: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """``NAME NUMBER`` per hotline, separated by ``;`` or new lines (the number last)."""
    raw = (values.get("XINFANG_HOTLINES") or "").replace("\n", ";")
    out: list[tuple[str, str]] = []
    for number, entry in enumerate((e.strip() for e in raw.split(";")), start=1):
        if not entry:
            continue
        name, _sep, phone = entry.rpartition(" ")
        name = name.strip()
        if not name or len(name) > 40 or not _HOTLINE_NUMBER.match(phone):
            raise SettingsError(
                f"XINFANG_HOTLINES entry {number} must be NAME NUMBER (a name of at most 40 "
                f"characters, then a phone number of digits and dashes), entries separated "
                f"by ';', e.g. {_HOTLINES_EXAMPLE}; got {entry!r}",
                N_("settings.hotline_form"),
                name="XINFANG_HOTLINES",
                number=number,
                form="NAME NUMBER",
                most=40,
                example=_HOTLINES_EXAMPLE,
                got=repr(entry),
            )
        out.append((name, phone))
    return tuple(out)


def _danger_signs(values: Mapping[str, str]) -> tuple[DangerSign, ...]:
    """The default danger signs, changed by a TOML file's ``[[sign]]`` entries (kind, name,
    pattern, guards; an empty pattern removes a default; ``defaults = false`` drops them all;
    docs/early-warning.md). The file's text is never echoed: its patterns are the point."""
    raw = (values.get("XINFANG_DANGER_SIGNS") or "").strip()
    if not raw:
        return DEFAULT_SIGNS
    name = "XINFANG_DANGER_SIGNS"
    try:
        data = tomllib.loads(Path(raw).read_text(encoding="utf-8"))
    except OSError as exc:
        raise _os_error(
            f"{name}: cannot read {raw}: {exc.strerror}",
            N_("settings.signs_unreadable"),
            exc,
            name=name,
            path=raw,
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise _toml_error(
            f"{name}: {raw} is not valid TOML: {exc}",
            (N_("settings.signs_not_toml"), N_("settings.signs_not_toml_at")),
            exc,
            name=name,
            path=raw,
        ) from None
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{name}: {raw} is not valid TOML: {exc}",
            N_("settings.signs_not_toml"),
            name=name,
            path=raw,
            format="TOML",
        ) from None
    defaults = data.get("defaults", True)
    entries = data.get("sign", [])
    if not isinstance(defaults, bool) or not isinstance(entries, list):
        raise SettingsError(
            f"{name}: defaults must be true or false, signs [[sign]] tables",
            N_("settings.signs_form"),
            name=name,
            defaults="defaults",
            true="true",
            false="false",
            sign="[[sign]]",
        )
    # The file's words (kind, name, pattern, guards) as params: a translation names them as
    # they are written in the file.
    fields_of = {"kind": "kind", "sign_name": "name", "pattern": "pattern", "guards": "guards"}
    for number, entry in enumerate(entries, start=1):
        where = f"{name}: sign {number}"
        if not isinstance(entry, dict) or not entry.get("kind") or not entry.get("name"):
            raise SettingsError(
                f"{where} needs kind and name (and pattern, guards)",
                N_("settings.sign_fields"),
                name=name,
                number=number,
                **fields_of,
            )
        kind = entry["kind"]
        if kind not in KINDS:
            raise SettingsError(
                f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}",
                N_("settings.sign_kind"),
                name=name,
                number=number,
                kind="kind",
                kinds=", ".join(KINDS),
                got=repr(kind),
            )
        guards = entry.get("guards", [])
        if not isinstance(entry.get("pattern", ""), str) or not isinstance(guards, list):
            raise SettingsError(
                f"{where}: pattern is a string, guards a list of strings",
                N_("settings.sign_types"),
                name=name,
                number=number,
                pattern="pattern",
                guards="guards",
            )
        for pattern in [entry.get("pattern", ""), *guards]:
            try:
                re.compile(str(pattern))
            except re.error as exc:
                message = f"{where} ({entry['name']}): not a regular expression: {exc}"
                sign = {"name": name, "number": number, "sign": entry["name"]}
                if exc.pos is None:
                    raise SettingsError(message, N_("settings.sign_regex"), **sign) from None
                raise SettingsError(
                    message, N_("settings.sign_regex_at"), **sign, position=exc.pos
                ) from None
    signs = signs_from_config(entries, defaults=defaults)
    if not signs:
        raise SettingsError(
            f"{name}: no danger sign left; remove the file to use the defaults",
            N_("settings.no_signs"),
            name=name,
        )
    return signs


def _staff_no_pattern(values: Mapping[str, str]) -> str | None:
    # The length limit is the domain's; a translation of the error names it.
    from petitions.selfid import _STAFF_PATTERN_MAX as STAFF_PATTERN_MAX
    from petitions.selfid import compile_staff_pattern

    raw = (values.get("XINFANG_STAFF_NO_PATTERN") or "").strip()
    if not raw:
        return None
    try:
        compile_staff_pattern(raw)
    except ValueError as exc:
        # The domain says why in English; a translation gives the rules it checks.
        raise SettingsError(
            f"XINFANG_STAFF_NO_PATTERN is not usable: {exc}",
            N_("settings.staff_pattern"),
            name="XINFANG_STAFF_NO_PATTERN",
            most=STAFF_PATTERN_MAX,
            anchors="^ $ \\A \\Z",
        ) from None
    return raw


def _disclosure(values: Mapping[str, str]) -> str:
    raw = (values.get("XINFANG_DISCLOSURE") or "1of1").strip().lower()
    if raw not in ("1of1", "2of3"):
        raise SettingsError(
            f"XINFANG_DISCLOSURE must be 1of1 or 2of3, got {raw!r}",
            N_("settings.either"),
            name="XINFANG_DISCLOSURE",
            first="1of1",
            second="2of3",
            got=repr(raw),
        )
    return raw


def _flag(values: Mapping[str, str], name: str) -> bool:
    raw = (values.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(
        f"{name} must be true or false, got {raw!r}",
        N_("settings.either"),
        name=name,
        first="true",
        second="false",
        got=repr(raw),
    )


def _web(values: Mapping[str, str]) -> WebSettings | None:
    if not _flag(values, "XINFANG_WEB"):
        return None
    return WebSettings(
        secure_cookies=_flag(values, "XINFANG_WEB_SECURE_COOKIES"),
        max_upload_mb=_int(values, "XINFANG_WEB_MAX_UPLOAD_MB", 20, minimum=1),
        officer_session_hours=_int(values, "XINFANG_WEB_SESSION_HOURS", 12, minimum=1),
        officer_idle_minutes=_int(values, "XINFANG_WEB_IDLE_MINUTES", 120, minimum=1),
        trusted_proxies=_networks(values, "XINFANG_TRUSTED_PROXIES"),
    )


def _networks(
    values: Mapping[str, str], name: str
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    # XINFANG_TRUSTED_PROXIES=127.0.0.1,10.0.0.0/8,::1
    networks = []
    for part in (values.get(name) or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SettingsError(
                f"{name} must be IP addresses or networks separated by commas, "
                f"e.g. 127.0.0.1,10.0.0.0/8; got {part!r}",
                N_("settings.networks"),
                name=name,
                example="127.0.0.1,10.0.0.0/8",
                got=repr(part),
            ) from None
    return tuple(networks)


def _telegram(values: Mapping[str, str]) -> TelegramSettings | None:
    token = values.get("TELEGRAM_BOT_TOKEN")
    if not token:
        return None
    admin = values.get("TELEGRAM_ADMIN_CHAT_ID")
    try:
        admin_id = int(admin) if admin else None
    except ValueError:
        raise SettingsError(
            "TELEGRAM_ADMIN_CHAT_ID must be a number like -1001234567890",
            N_("settings.chat_id_number"),
            name="TELEGRAM_ADMIN_CHAT_ID",
            example="-1001234567890",
        ) from None
    webhook = values.get("TELEGRAM_WEBHOOK_URL") or None
    secret = values.get("TELEGRAM_WEBHOOK_SECRET") or None
    if webhook and not secret:
        raise SettingsError(
            "TELEGRAM_WEBHOOK_URL needs TELEGRAM_WEBHOOK_SECRET as well",
            N_("settings.needs_also"),
            name="TELEGRAM_WEBHOOK_URL",
            other="TELEGRAM_WEBHOOK_SECRET",
        )
    return TelegramSettings(
        token=token,
        admin_chat_id=admin_id,
        webhook_url=webhook,
        webhook_secret=secret,
        api_base_url=values.get("TELEGRAM_API_BASE_URL") or "https://api.telegram.org/bot",
    )


def _wecom(values: Mapping[str, str]) -> WeComSettings | None:
    names = ("WECOM_CORP_ID", "WECOM_AGENT_ID", "WECOM_SECRET", "WECOM_TOKEN", "WECOM_AES_KEY")
    given = [n for n in names if values.get(n)]
    if not given:
        return None
    missing = [n for n in names if not values.get(n)]
    if missing:
        raise SettingsError(
            f"WeCom is partly configured; also set {', '.join(missing)}",
            N_("settings.wecom_partial"),
            missing=", ".join(missing),
        )
    if len(values["WECOM_AES_KEY"]) != 43:
        raise SettingsError(
            "WECOM_AES_KEY must be the 43-character EncodingAESKey",
            N_("settings.wecom_aes_key"),
            name="WECOM_AES_KEY",
            length=43,
            key="EncodingAESKey",
        )
    return WeComSettings(
        corp_id=values["WECOM_CORP_ID"],
        agent_id=_int(values, "WECOM_AGENT_ID", 0),
        secret=values["WECOM_SECRET"],
        token=values["WECOM_TOKEN"],
        aes_key=values["WECOM_AES_KEY"],
        api_base_url=values.get("WECOM_API_BASE_URL") or "https://qyapi.weixin.qq.com",
        replay_window=_int(values, "WECOM_REPLAY_WINDOW", 300),
        admin_chat_id=values.get("WECOM_ADMIN_CHAT_ID") or None,
    )
