"""The runtime API helpers behind haproxy_server (and so behind deploy.yml's drain and ready)."""
from __future__ import annotations

import pytest

from ansible_collections.django_deploy.stack.plugins.module_utils import haproxy as hap

# The first fields of HAProxy 2.6's `show stat` (Debian 12), as the admin socket prints them.
STAT = """\
# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck
http,FRONTEND,,,3,10,1800,420,0,0,0,0,0,,,,,OPEN,,,
webservers,web1,0,0,2,5,8,200,0,0,,0,,0,0,0,0,DRAIN,1,1,0
webservers,web2,1,2,3,6,8,210,0,0,,0,,0,0,0,0,UP,1,1,0
webservers,web3,0,0,0,0,8,0,0,0,,0,,0,0,0,0,DOWN 1/2,1,1,0
webservers,BACKEND,0,0,5,10,180,410,0,0,0,0,,0,0,0,0,UP,2,2,0

"""

# `show servers state webservers` (format version 1), one server per line; HAProxy prints the
# header as one line, split here only to keep the source within 160 columns.
SERVERS_STATE = (
    "1\n"
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight"
    " srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state"
    " srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl"
    " srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n"
    "3 webservers 1 web1 172.18.0.3 2 8 1 1 12 6 3 4 6 0 0 0 - 80 - 0 0 - - 0\n"
    "3 webservers 2 web2 172.18.0.4 2 0 1 1 12 6 3 4 6 0 0 0 - 80 - 0 0 - - 0\n"
)


def test_parse_stat_keys_rows_by_the_header():
    rows = hap.parse_stat(STAT)
    assert [row["svname"] for row in rows] == ["FRONTEND", "web1", "web2", "web3", "BACKEND"]
    web1 = hap.find(rows, "webservers", "web1", "pxname", "svname")
    assert web1["status"] == "DRAIN" and web1["scur"] == "2" and web1["stot"] == "200"
    assert hap.find(rows, "webservers", "web9", "pxname", "svname") is None


@pytest.mark.parametrize("bad", ["", "No such backend.\n", "pxname,svname\nx,y\n"])
def test_parse_stat_refuses_what_is_not_show_stat(bad):
    with pytest.raises(ValueError, match="show stat"):
        hap.parse_stat(bad)


def test_parse_servers_state():
    rows = hap.parse_servers_state(SERVERS_STATE)
    assert [(row["srv_name"], row["srv_admin_state"]) for row in rows] == [("web1", "8"), ("web2", "0")]
    assert hap.find(rows, "webservers", "web2", "be_name", "srv_name")["srv_addr"] == "172.18.0.4"


def test_parse_servers_state_refuses_an_error_answer():
    with pytest.raises(ValueError, match="show servers state"):
        hap.parse_servers_state("Can't find backend.\n")


@pytest.mark.parametrize("state, admin, matches", [
    ("ready", 0, True),
    ("ready", hap.ADMIN_FDRAIN, False),
    ("ready", hap.ADMIN_FMAINT, False),
    ("ready", hap.ADMIN_IDRAIN, True),  # inherited from a tracked server: not ours to clear
    ("drain", hap.ADMIN_FDRAIN, True),
    ("drain", 0, False),
    ("drain", hap.ADMIN_FDRAIN | hap.ADMIN_FMAINT, False),
    ("maint", hap.ADMIN_FMAINT, True),
    ("maint", hap.ADMIN_FDRAIN, False),
])
def test_admin_matches(state, admin, matches):
    assert hap.admin_matches(state, admin) is matches


def test_admin_matches_rejects_unknown_states():
    with pytest.raises(ValueError, match="ready, drain, maint"):
        hap.admin_matches("disabled", 0)


@pytest.mark.parametrize("value, expected", [("8", 8), (0, 0), ("33", 33)])
def test_admin_state(value, expected):
    assert hap.admin_state(value) == expected


def test_admin_state_rejects_text():
    with pytest.raises(ValueError, match="srv_admin_state"):
        hap.admin_state("-")


@pytest.mark.parametrize("status, up", [
    ("UP", True), ("no check", True), ("UP 1/3", False), ("DOWN", False), ("DOWN 1/2", False),
    ("DRAIN", False), ("MAINT", False), ("MAINT (resolution)", False), ("NOLB", False), ("", False),
])
def test_is_up(status, up):
    assert hap.is_up(status) is up


def test_reached_waits_for_sessions_and_queue_to_empty_or_for_up():
    assert not hap.reached("drain", {"scur": "2", "qcur": "0"})
    assert not hap.reached("drain", {"scur": "0", "qcur": "1"})
    assert hap.reached("drain", {"scur": "0", "qcur": ""})
    assert hap.reached("maint", {"scur": "0", "qcur": "0"})
    assert hap.reached("ready", {"status": "UP"})
    assert not hap.reached("ready", {"status": "DOWN 1/2"})
    with pytest.raises(ValueError):
        hap.reached("enabled", {})


def test_others_up_counts_only_other_servers_taking_traffic():
    rows = hap.parse_stat(STAT)
    assert hap.others_up(rows, "webservers", "web1") == ["web2"]
    assert hap.others_up(rows, "webservers", "web2") == []  # web1 drains, web3 is down
    assert hap.others_up(rows, "http", "web1") == []


def test_summary():
    row = hap.find(hap.parse_stat(STAT), "webservers", "web2", "pxname", "svname")
    assert hap.summary(row, hap.ADMIN_FDRAIN) == {
        "status": "UP", "admin_state": 8, "drain": True, "maint": False,
        "sessions": 3, "queued": 1, "total_sessions": 210,
    }
