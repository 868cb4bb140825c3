"""The stack model: topology, variables, endpoints, flows, layout, secrets and platform."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.django_deploy.stack.plugins.module_utils import stack

SECRETS = {"django_app_secret_key": "k" * 50, "postgresql_app_password": "p" * 12,
           "postgresql_replication_password": "r" * 12, "rabbitmq_app_password": "q" * 12,
           "redis_password": "s" * 16}
# Two web servers need uploads on storage every app host sees (the rule 'local media on one web server').
MEDIA = {"django_app_media_storage": "shared"}
REFERENCE = {"loadbalancers": ["lb1"], "webservers": ["web1", "web2"], "db_primary": ["db1"],
             "db_replicas": ["db2"], "memcached": ["cache1"], "rabbitmq": ["mq1"],
             "celery_workers": ["worker1"], "celery_beat": ["beat1"]}


def _facts(index: int, release: str = "12") -> dict:
    return {"default_ipv4": {"address": f"10.0.0.{index}"}, "memtotal_mb": 2048, "processor_vcpus": 2,
            "distribution_major_version": release, "machine": "x86_64"}


def _inventory(groups, common=None, per_host=None, release="12"):
    names = sorted({h for members in groups.values() for h in members})
    hosts = {h: {**SECRETS, **MEDIA, **(common or {}), **((per_host or {}).get(h) or {})} for h in names}
    facts = {h: _facts(i + 1, release) for i, h in enumerate(names)}
    return hosts, facts


def _model(groups=None, **kwargs):
    groups = REFERENCE if groups is None else groups
    hosts, facts = _inventory(groups, kwargs.pop("common", None), kwargs.pop("per_host", None),
                              kwargs.pop("release", "12"))
    return stack.stack_model(hosts, groups, facts, **kwargs)


def test_reference_topology():
    model = _model()
    topo = model["topology"]
    assert topo["app_hosts"] == ["web1", "web2", "worker1", "beat1"]
    assert topo["db_hosts"] == ["db1", "db2"]
    assert model["hosts"]["beat1"]["services"] == ["celery_beat"]
    assert model["hosts"]["web1"]["services"] == ["gunicorn", "nginx"]


def test_a_beat_only_host_reaches_the_database_and_the_broker():
    """The bug that broke database beat schedulers: beat1 was refused by pg_hba."""
    model = _model()
    db_clients = {c["host"] for c in model["hosts"]["db1"]["clients"]["postgresql"] if c["purpose"] == "app"}
    assert "beat1" in db_clients
    assert "beat1" in {c["host"] for c in model["hosts"]["mq1"]["clients"]["rabbitmq"]}
    assert "postgresql_app_password" in model["hosts"]["beat1"]["secrets"]


def test_ports_come_from_each_servers_variable():
    model = _model(common={"postgresql_port": 5433, "memcached_port": "11311", "rabbitmq_amqp_port": 5673,
                           "nginx_listen_port": 8088})
    ends = model["endpoints"]
    assert ends["postgresql"] == [{"host": "db1", "address": "10.0.0.3", "port": 5433}]
    assert ends["postgresql_replicas"][0]["port"] == 5433
    assert ends["memcached"][0]["port"] == 11311
    assert ends["rabbitmq"][0]["port"] == 5673
    assert {e["port"] for e in ends["web"]} == {8088}
    assert model["hosts"]["mq1"]["ports"]["rabbitmq_dist"] == 25673
    flows = {(f["client"], f["server"], f["port"]) for f in model["flows"]}
    assert ("web1", "db1", 5433) in flows and ("db2", "db1", 5433) in flows and ("lb1", "web2", 8088) in flows


def test_nginx_moves_to_8080_beside_haproxy_and_mod_wsgi_upstream_follows_its_port():
    groups = {"loadbalancers": ["vps1"], "webservers": ["vps1"], "db_primary": ["vps1"]}
    model = _model(groups, common={"django_app_server": "mod_wsgi", "mod_wsgi_listen_port": 8091})
    assert model["endpoints"]["web"][0]["port"] == 8080
    assert model["endpoints"]["app_server"]["vps1"]["upstream"] == "127.0.0.1:8091"
    gunicorn = _model(groups)["endpoints"]["app_server"]["vps1"]
    assert gunicorn["upstream"] == "unix:/run/gunicorn-demo.sock"


def test_all_in_one_host_lets_its_own_address_into_pg_hba():
    groups = {"webservers": ["vps1"], "db_primary": ["vps1"]}
    clients = _model(groups)["hosts"]["vps1"]["clients"]["postgresql"]
    assert clients == [{"host": "vps1", "address": "10.0.0.1", "purpose": "app", "cidr": "10.0.0.1/32"}]


def test_replication_clients_are_the_other_database_hosts():
    model = _model()
    replication = [c["host"] for c in model["hosts"]["db1"]["clients"]["postgresql"] if c["purpose"] == "replication"]
    assert replication == ["db2"]


def test_layout_follows_the_name_and_the_account_variables():
    model = _model(common={"django_app_name": "shop", "common_app_user": "shopper", "common_app_home": "/opt/shop"})
    app = model["app"]
    assert (app["user"], app["group"], app["home"]) == ("shopper", "shopper", "/opt/shop")
    assert app["current"] == "/opt/shop/current" and app["static_root"] == "/opt/shop/static"
    assert app["etc"] == "/etc/shop" and app["gunicorn_socket"] == "/run/gunicorn-shop.sock"
    assert app["gunicorn_ready_dir"] == "/run/gunicorn-shop"
    assert app["database"] == {"name": "shop", "user": "shop", "replication_user": "replicator", "tls": True,
                               "pooler": "none", "pooler_auth_user": "pgbouncer"}
    assert app["broker"] == {"user": "shop", "vhost": "shop"}


def test_media_follows_the_storage_and_the_paths():
    app = _model(common={"django_app_name": "shop", "common_app_home": "/opt/shop"})["app"]
    assert app["media"] == {"root": "/opt/shop/media", "url": "/media/", "storage": "shared"}
    app = _model(common={"django_app_media_root": "/mnt/uploads", "django_app_media_url": "/files/"})["app"]
    assert app["media"] == {"root": "/mnt/uploads", "url": "/files/", "storage": "shared"}
    assert _model(common={"django_app_media_storage": "project"})["app"]["media"] is None


def test_local_media_is_refused_with_two_web_servers_before_any_host_is_contacted():
    hosts, _facts_ = _inventory(REFERENCE, common={"django_app_media_storage": "local"})
    problems = stack.inventory_problems(hosts, REFERENCE)
    assert len(problems) == 1 and problems[0].startswith(
        "Rule 'local media on one web server': django_app_media_storage is local (the default) but group "
        "webservers has web1, web2")
    hosts = {h: {k: v for k, v in hv.items() if k != "django_app_media_storage"} for h, hv in hosts.items()}
    assert stack.inventory_problems(hosts, REFERENCE) == problems, "local is the default"
    one_web = {**REFERENCE, "webservers": ["web1"]}
    assert stack.inventory_problems(_inventory(one_web, common={"django_app_media_storage": "local"})[0], one_web) == []


@pytest.mark.parametrize("root, where", [
    ("/srv/demo/static", "the static root (django_app_static_root)"),
    ("/srv/demo/", "the app's home"),
    ("/", "the root directory"),
    ("/srv/demo/releases/uploads", "the releases"),
    ("/srv/demo/current/media", "the current release"),
    ("/home/demo/media", "/home"),
])
def test_a_media_root_that_is_not_a_directory_of_its_own_is_refused(root, where):
    hosts, _facts_ = _inventory(REFERENCE, common={"django_app_media_root": root})
    assert stack.inventory_problems(hosts, REFERENCE) == [
        f"django_app_media_root = {root!r} is {where}: uploads need a directory of their own, such as /srv/demo/media."]


def test_the_media_rule_reads_the_web_servers_setting():
    """As the layout does: shared set for the web servers only is what counts."""
    hosts, _facts_ = _inventory(REFERENCE, common={"django_app_media_storage": "local"},
                                per_host={"web1": {"django_app_media_storage": "shared"},
                                          "web2": {"django_app_media_storage": "shared"}})
    assert stack.inventory_problems(hosts, REFERENCE) == []
    assert _model(common={"django_app_media_root": "/srv/demo/media", "django_app_media_storage": "project"})["app"]["media"] is None


@pytest.mark.parametrize("name, value, rule", [
    ("django_app_media_storage", "s3", "must be one of local, shared, project"),
    ("django_app_media_url", "/media", "must be a URL path starting and ending with /, such as /media/"),
    ("django_app_media_root", "media", None),
])
def test_media_variables_are_checked(name, value, rule):
    hosts, _facts_ = _inventory(REFERENCE, common={name: value})
    problems = stack.inventory_problems(hosts, REFERENCE)
    assert problems and problems[0].startswith(f"{name} = '{value}', for every host: ")
    if rule:
        assert problems[0].endswith(f"{rule}.")


def test_platform_follows_the_debian_release():
    thirteen = _model(release="13")["hosts"]["db1"]["platform"]
    assert thirteen["postgresql"]["version"] == 17 and thirteen["glibc"] == "2.41" and thirteen["newer_pythons"] == {}
    assert _model()["hosts"]["web1"]["platform"]["newer_pythons"] == {"13": "3.13"}
    twelve = _model()["hosts"]["db1"]["platform"]["postgresql"]
    assert twelve["version"] == 15 and twelve["service"] == "postgresql@15-main"
    assert twelve["data_dir"] == "/var/lib/postgresql/15/main"
    assert _model(common={"postgresql_version": 16})["hosts"]["db2"]["platform"]["postgresql"]["bin_dir"] == \
        "/usr/lib/postgresql/16/bin"


def test_promotion_makes_the_replica_the_primary_and_drops_the_old_one():
    groups = {**REFERENCE, "db_replicas": ["db2", "db3"]}
    model = _model(groups, primary="db2")
    assert model["topology"]["db_primary"] == ["db2"] and model["topology"]["db_replicas"] == ["db3"]
    assert model["endpoints"]["postgresql"][0]["host"] == "db2"
    assert model["hosts"]["db1"]["services"] == []  # fenced: not part of the stack any more
    assert model["hosts"]["db1"]["platform"]["postgresql"]["service"] == "postgresql@15-main"
    with pytest.raises(stack.StackError, match="only a replica can become the primary"):
        _model(groups, primary="web1")


@pytest.mark.parametrize(("change", "expected"), [
    ({"db_primary": ["db1", "db3"]}, "Rule 'exactly one database primary': group db_primary has db1, db3"),
    ({"db_primary": []}, "group db_primary has no host"),
    ({"celery_beat": ["worker1", "web1"]}, "Rule 'at most one Celery beat'"),
    ({"db_replicas": ["db1"]}, "host db1 is in both db_primary and db_replicas"),
    ({"rabbitmq": []}, "Rule 'Celery needs a broker'"),
    ({"webservers": []}, "Rule 'at least one web server'"),
])
def test_each_broken_rule_is_one_line_naming_the_rule_group_and_hosts(change, expected):
    problems = stack.check_topology({**REFERENCE, **change})
    assert len(problems) == 1 and expected in problems[0], problems


def test_only_broken_rules_are_printed():
    assert stack.check_topology(REFERENCE) == []


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("gunicorn_workers", "abc", "gunicorn_workers = 'abc', for host web1: must be a whole number of 1 or more."),
    ("postgresql_port", 70000, "postgresql_port = 70000, for host web1: must be a whole number from 1 to 65535."),
    ("django_app_server", "uwsgi", "django_app_server = 'uwsgi', for host web1: must be one of gunicorn, mod_wsgi."),
    ("django_app_name", "My App", "must be a lowercase slug"),
    ("django_deploy_host_memory_mb", 100, "must be a whole number of 256 or more"),
    ("django_app_allowed_hosts", "example.com", "must be a list of host names"),
])
def test_a_bad_variable_is_named_as_written_without_python_type_names(name, value, expected):
    hosts = {"web1": {name: value}, "db1": {}}
    lines = stack.check_variables(hosts, {"web1": {name: "group_vars/web.yml line 3"}})
    assert len(lines) == 1 and expected.split(", for")[0] in lines[0] and expected.split(": ", 1)[-1] in lines[0]
    assert "(set in group_vars/web.yml line 3)" in lines[0]
    for python_name in ("str", "int", "Tagged", "NoneType", "dict"):
        assert f" {python_name} " not in lines[0]


def test_a_value_set_for_every_host_is_reported_once():
    hosts = {h: {"gunicorn_workers": "x"} for h in ("a", "b", "c")}
    assert stack.check_variables(hosts) == [
        "gunicorn_workers = 'x', for every host: must be a whole number of 1 or more."]


def test_missing_secrets_are_named_never_their_values():
    hosts, _facts = _inventory(REFERENCE)
    del hosts["beat1"]["postgresql_app_password"]
    hosts["mq1"]["rabbitmq_app_password"] = ""
    problems = stack.inventory_problems(hosts, REFERENCE)
    assert sorted(problems) == [
        "postgresql_app_password is not set for host beat1: set it in the inventory, from Ansible Vault.",
        "rabbitmq_app_password is not set for host mq1: set it in the inventory, from Ansible Vault.",
    ]


def test_a_single_database_host_needs_no_replication_password():
    groups = {"webservers": ["web1"], "db_primary": ["db1"]}
    model = _model(groups)
    assert all("postgresql_replication_password" not in e["secrets"] for e in model["hosts"].values())


@pytest.mark.parametrize("service", ["memcached", "redis"])
def test_two_services_on_one_port_are_refused(service):
    groups = {"webservers": ["vps1"], "db_primary": ["vps1"], service: ["vps1"]}
    with pytest.raises(stack.StackError, match=f"= 5432 for host vps1: ({service}|postgresql)_port already uses that port"):
        _model(groups, common={f"{service}_port": 5432})


def test_a_host_without_an_address_is_named():
    hosts, facts = _inventory(REFERENCE)
    del facts["cache1"]["default_ipv4"]
    with pytest.raises(stack.StackError, match="Host cache1 has no address"):
        stack.stack_model(hosts, REFERENCE, facts)
    assert stack.stack_model(hosts, REFERENCE, facts, require_addresses=False)["hosts"]["cache1"]["address"] is None


def test_database_hosts_on_different_releases_are_refused():
    hosts, facts = _inventory(REFERENCE)
    facts["db2"]["distribution_major_version"] = "13"
    with pytest.raises(stack.StackError, match="postgresql_version differs across the database hosts"):
        stack.stack_model(hosts, REFERENCE, facts)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(stack.GROUPS[1:]),
                       st.lists(st.sampled_from(["h1", "h2", "h3", "h4"]), max_size=3, unique=True)))
def test_any_valid_topology_gives_consistent_flows(groups):
    groups = {**groups, "webservers": groups.get("webservers") or ["h1"], "db_primary": ["h9"]}
    groups["db_replicas"] = [h for h in groups.get("db_replicas", []) if h != "h9"]
    if groups.get("celery_workers") or groups.get("celery_beat"):
        groups["rabbitmq"] = groups.get("rabbitmq") or ["h4"]
    groups["celery_beat"] = groups.get("celery_beat", [])[:1]
    groups["db_backup"] = [h for h in groups.get("db_backup", []) if h not in ["h9", *groups["db_replicas"]]][:1]
    hosts, facts = _inventory(groups)
    for entry in facts.values():
        entry["memtotal_mb"] = 8192
    model = stack.stack_model(hosts, groups, facts)
    for flow in model["flows"]:
        assert flow["server"] in model["hosts"]
        assert flow["client"] == "any" or flow["client"] in model["hosts"]
    # Every app host may reach every database host; every client entry has an address.
    for db in model["topology"]["db_hosts"]:
        allowed = {c["host"] for c in model["hosts"][db]["clients"].get("postgresql", []) if c["purpose"] != "replication"}
        assert allowed == set(model["topology"]["app_hosts"])
    assert all(c["cidr"].endswith("/32") for e in model["hosts"].values() for cs in e["clients"].values() for c in cs)


def test_flows_text_lists_each_server_port_with_its_clients():
    text = stack.flows_text(_model(common={"postgresql_port": 5433}))
    assert "db1 postgresql 10.0.0.3:5433/tcp <- web1, web2, worker1, beat1, db2" in text
    assert "lb1 haproxy 10.0.0.5:80/tcp <- any" in text
    assert "web1 gunicorn unix socket <- web1 (itself)" in text


# --- Redis ------------------------------------------------------------------------------------
REDIS = {"webservers": ["web1"], "db_primary": ["db1"], "redis": ["kv1", "kv2"], "celery_workers": ["web1"]}


def test_redis_alone_is_the_cache_and_the_broker_and_persists():
    model = _model(REDIS)
    assert model["app"]["cache"] == "redis" and model["app"]["celery_broker"] == "redis"
    assert model["app"]["redis_databases"] == {"cache": 0, "broker": 1, "results": 2}
    # The first host of the group is the primary; the endpoints keep the group's order.
    assert [e["host"] for e in model["endpoints"]["redis"]] == ["kv1", "kv2"]
    assert model["endpoints"]["redis"][0]["port"] == 6379
    # As the broker it keeps an append-only file and evicts only keys with a TTL.
    assert model["sizing"]["hosts"]["kv1"]["redis"]["appendonly"] is True
    assert model["sizing"]["hosts"]["kv1"]["redis"]["maxmemory_policy"] == "volatile-lru"
    assert "redis_password" in model["hosts"]["web1"]["secrets"]
    assert "redis_password" in model["hosts"]["kv2"]["secrets"]
    assert "redis_password" not in model["hosts"]["db1"]["secrets"]


def test_redis_replicas_reach_the_primary_and_the_app_reaches_every_server():
    model = _model(REDIS)
    flows = {(f["client"], f["server"], f["purpose"]) for f in model["flows"] if f["service"] == "redis"}
    assert flows == {("web1", "kv1", "app"), ("web1", "kv2", "app"), ("kv2", "kv1", "replication")}
    assert {c["host"] for c in model["hosts"]["kv1"]["clients"]["redis"]} == {"web1", "kv2"}


def test_memcached_and_rabbitmq_come_first_unless_the_inventory_chooses():
    groups = {**REFERENCE, "redis": ["kv1"]}
    model = _model(groups)
    assert (model["app"]["cache"], model["app"]["celery_broker"]) == ("memcached", "rabbitmq")
    # Redis as a cache only: nothing on disk, any key may go.
    assert model["sizing"]["hosts"]["kv1"]["redis"] == {"maxmemory_mb": model["sizing"]["hosts"]["kv1"]["redis"]["maxmemory_mb"],
                                                        "maxmemory_policy": "allkeys-lru", "appendonly": False}
    chosen = _model(groups, common={"django_app_cache": "redis", "django_app_celery_broker": "redis"})
    assert (chosen["app"]["cache"], chosen["app"]["celery_broker"]) == ("redis", "redis")
    assert chosen["sizing"]["hosts"]["kv1"]["redis"]["appendonly"] is True
    assert _model({"webservers": ["web1"], "db_primary": ["db1"]})["app"]["cache"] == "local"


def test_a_chosen_service_without_hosts_is_refused():
    problems = stack.check_topology(REFERENCE, hvars={"django_app_cache": "redis", "django_app_celery_broker": "redis"})
    assert problems == [
        "django_app_cache = 'redis' but group redis has no host; add one, or choose another (memcached, redis, local).",
        "django_app_celery_broker = 'redis' but group redis has no host; add one, or choose another (rabbitmq, redis).",
    ]
    assert stack.check_topology({**REFERENCE, "rabbitmq": [], "redis": ["kv1"]}) == []
    assert "groups rabbitmq and redis have no host" in stack.check_topology({**REFERENCE, "rabbitmq": []})[0]


@pytest.mark.parametrize(("name", "value", "rule"), [
    ("django_app_cache", "redis-cluster", "must be one of memcached, redis, local"),
    ("django_app_celery_broker", "sqs", "must be one of rabbitmq, redis"),
    ("redis_implementation", "keydb", "must be one of redis, valkey"),
    ("redis_persistence", "yes", "must be true or false"),
    ("redis_maxmemory_policy", "lru", "must be one of allkeys-lru, volatile-lru, noeviction"),
    ("redis_maxmemory_mb", 0, "must be a whole number of 1 or more"),
    ("redis_port", 0, "must be a whole number from 1 to 65535"),
])
def test_redis_variables_are_checked(name, value, rule):
    lines = stack.check_variables({"kv1": {name: value}})
    assert len(lines) == 1 and rule in lines[0] and lines[0].startswith(name), lines


def test_valkey_runs_on_debian_13_only_and_one_implementation_per_group():
    valkey = {"redis_implementation": "valkey"}
    model = _model(REDIS, common=valkey, release="13")
    assert model["hosts"]["kv1"]["platform"]["redis"] == {
        "implementation": "valkey", "package": "valkey-server", "service": "valkey-server",
        "config": "/etc/valkey/valkey.conf", "cli": "valkey-cli", "user": "valkey", "data_dir": "/var/lib/valkey"}
    with pytest.raises(stack.StackError, match="redis_implementation = 'valkey' for host kv1: Debian 12 does not ship it"):
        _model(REDIS, common=valkey)
    with pytest.raises(stack.StackError, match="redis_implementation differs across group redis"):
        _model(REDIS, per_host={"kv2": valkey}, release="13")


def test_app_hosts_on_different_platforms_are_refused_before_anything_changes():
    """Their wheels are resolved once and a C extension is built on one of them."""
    hosts, facts = _inventory(REFERENCE)
    facts["worker1"]["distribution_major_version"] = "13"
    facts["beat1"]["machine"] = "aarch64"
    with pytest.raises(stack.StackError) as error:
        stack.stack_model(hosts, REFERENCE, facts)
    assert str(error.value) == (
        "The app hosts (webservers, celery_workers, celery_beat) run different platforms: web1 Debian 12 (Python 3.11) "
        "on x86_64; web2 Debian 12 (Python 3.11) on x86_64; worker1 Debian 13 (Python 3.13) on x86_64; beat1 Debian 12 "
        "(Python 3.11) on aarch64. A release's wheels are built once for all of them: run them on one Debian release "
        "and machine type.")
    # Other tiers may differ: a database host on another machine type is fine.
    facts = _inventory(REFERENCE)[1]
    facts["db1"]["machine"] = facts["db2"]["machine"] = "aarch64"
    assert stack.stack_model(hosts, REFERENCE, facts)["hosts"]["db1"]["platform"]["machine"] == "aarch64"


# --- Firewall: the ports each host opens, and to whom, from the flows --------------------------

def _rules(model, host):
    return {(r["port"], r["protocol"]): r for r in model["hosts"][host]["firewall"]["rules"]}


def test_firewall_opens_each_internal_port_to_its_clients_only():
    model = _model()
    # Addresses follow the sorted host names: beat1 .1, cache1 .2, db1 .3, db2 .4, lb1 .5, mq1 .6, web1 .7, web2 .8, worker1 .9.
    db1 = _rules(model, "db1")
    assert set(db1) == {(22, "tcp"), (5432, "tcp")}
    assert db1[(5432, "tcp")]["ipv4"] == ["10.0.0.1/32", "10.0.0.4/32", "10.0.0.7/32", "10.0.0.8/32", "10.0.0.9/32"]
    assert not db1[(5432, "tcp")]["public"] and db1[(5432, "tcp")]["services"] == ["postgresql"]
    assert _rules(model, "cache1")[(11211, "tcp")]["ipv4"] == ["10.0.0.1/32", "10.0.0.7/32", "10.0.0.8/32", "10.0.0.9/32"]
    web1 = _rules(model, "web1")
    assert set(web1) == {(22, "tcp"), (80, "tcp")} and web1[(80, "tcp")]["ipv4"] == ["10.0.0.5/32"]
    lb1 = _rules(model, "lb1")
    assert lb1[(80, "tcp")]["public"] and lb1[(80, "tcp")]["ipv4"] == []
    # A Celery-only host serves nothing: SSH only.
    assert set(_rules(model, "worker1")) == {(22, "tcp")}
    assert model["hosts"]["db1"]["firewall"]["enabled"] is True


def test_firewall_ssh_is_open_to_the_world_by_default_and_follows_the_inventory():
    assert _rules(_model(), "db1")[(22, "tcp")]["public"]
    assert _model()["hosts"]["db1"]["firewall"]["ssh_sources"] == ["0.0.0.0/0", "::/0"]
    model = _model(common={"firewall_ssh_sources": ["192.0.2.10", "2001:db8::/64"], "ansible_port": 2222})
    ssh = _rules(model, "db1")[(2222, "tcp")]
    assert not ssh["public"] and ssh["ipv4"] == ["192.0.2.10/32"] and ssh["ipv6"] == ["2001:db8::/64"]
    assert model["hosts"]["db1"]["firewall"]["ssh_sources"] == ["192.0.2.10/32", "2001:db8::/64"]
    assert ssh["services"] == ["ssh"]


def test_firewall_opens_rabbitmq_cluster_ports_between_nodes_and_nginx_to_the_world_without_haproxy():
    groups = {"webservers": ["web1"], "db_primary": ["db1"], "rabbitmq": ["mq1", "mq2"], "celery_workers": ["web1"]}
    model = _model(groups)
    mq1 = _rules(model, "mq1")
    assert mq1[(4369, "tcp")]["ipv4"] == ["10.0.0.3/32"]  # mq2 and mq1[(25672, "tcp")]["services"] == ["rabbitmq_dist"]
    assert _rules(model, "web1")[(80, "tcp")]["public"]


def test_an_all_in_one_host_opens_only_ssh_and_its_public_port():
    groups = {"loadbalancers": ["vps1"], "webservers": ["vps1"], "db_primary": ["vps1"], "memcached": ["vps1"]}
    rules = _rules(_model(groups), "vps1")
    # Its own connections (nginx on 8080, PostgreSQL, memcached) go through loopback.
    assert set(rules) == {(22, "tcp"), (80, "tcp")}


def test_adding_a_web_host_opens_exactly_what_it_needs():
    before = _model()
    groups = {**REFERENCE, "webservers": ["web1", "web2", "web3"]}
    after = _model(groups)
    changed = {h for h in after["hosts"] if after["hosts"][h].get("firewall") != before["hosts"].get(h, {}).get("firewall")}
    # Addresses shift with the sorted names (web3 .9, worker1 .10): compare by host instead.
    for host in ("db1", "db2", "cache1", "mq1"):
        port = {"db1": 5432, "db2": 5432, "cache1": 11211, "mq1": 5672}[host]
        sources = set(_rules(after, host)[(port, "tcp")]["ipv4"])
        assert after["hosts"]["web3"]["address"] + "/32" in sources
    assert set(_rules(after, "web3")) == {(22, "tcp"), (80, "tcp")}
    assert "lb1" not in changed or _rules(after, "lb1") == _rules(before, "lb1")


@pytest.mark.parametrize(("value", "message"), [
    ("10.0.0.0/8", "firewall_ssh_sources = '10.0.0.0/8', for every host: must be a non-empty list"),
    (["10.0.0.300"], "firewall_ssh_sources = a list, for every host: must be a list of addresses or networks: '10.0.0.300' is neither"),
    ([], "firewall_ssh_sources = a list, for every host: must be a non-empty list"),
])
def test_bad_ssh_sources_are_refused_naming_the_variable(value, message):
    with pytest.raises(stack.StackError) as error:
        _model(common={"firewall_ssh_sources": value})
    assert any(line.startswith(message) for line in error.value.problems), error.value.problems


@pytest.mark.parametrize(("value", "enabled"), [(False, False), ("false", False), ("no", False), (True, True),
                                                ("yes", True), ("1", True)])
def test_firewall_enabled_takes_booleans_and_their_text_as_extra_vars_give_them(value, enabled):
    assert _model(common={"firewall_enabled": value})["hosts"]["db1"]["firewall"]["enabled"] is enabled


def test_firewall_enabled_refuses_other_values():
    with pytest.raises(stack.StackError, match="firewall_enabled = 'sometimes', for every host: must be true or false"):
        _model(common={"firewall_enabled": "sometimes"})


# --- HTTPS (tls_mode): what the load balancers serve, checked before any host is contacted ---

ACME = {"tls_mode": "acme", "acme_email": "ops@example.com",
        "django_app_allowed_hosts": ["www.Example.com", "example.com", "localhost", "127.0.0.1", ".example.org", "*"]}


def test_tls_is_off_by_default_and_opens_no_https_port():
    model = _model()
    assert model["tls"]["mode"] == "off" and not model["tls"]["enabled"]
    assert set(_rules(model, "lb1")) == {(22, "tcp"), (80, "tcp")}


def test_an_unquoted_off_read_as_false_by_yaml_is_off():
    assert _model(common={"tls_mode": False})["tls"]["mode"] == "off"


def test_acme_certifies_the_allowed_hosts_that_are_domain_names_and_opens_https_to_the_world():
    model = _model(common=ACME)
    tls = model["tls"]
    assert tls["domains"] == ["www.example.com", "example.com"]
    assert tls["acme"]["peers"] == [] and tls["acme"]["host"] == "lb1" and tls["acme"]["directory_url"].startswith("https://acme-v02.api.letsencrypt.org")
    assert tls["hsts"] == {"seconds": 63072000, "include_subdomains": True, "preload": True,
                           "header": "max-age=63072000; includeSubDomains; preload"}
    assert _rules(model, "lb1")[(443, "tcp")]["public"]


def test_every_load_balancer_forwards_acme_challenges_to_the_first_one_which_opens_that_port_to_them():
    groups = {**REFERENCE, "loadbalancers": ["lb1", "lb2"]}
    model = _model(groups, common=ACME)
    challenge = _rules(model, "lb1")[(stack.ACME_CHALLENGE_PORT, "tcp")]
    assert challenge["ipv4"] == [model["hosts"]["lb2"]["address"] + "/32"] and not challenge["public"]
    assert (stack.ACME_CHALLENGE_PORT, "tcp") not in _rules(model, "lb2")
    assert _rules(model, "lb2")[(443, "tcp")]["public"]


def test_tls_domains_and_the_https_port_follow_the_inventory():
    model = _model(common={**ACME, "tls_domains": ["shop.example.net"], "haproxy_https_port": 8443})
    assert model["tls"]["domains"] == ["shop.example.net"]
    assert model["hosts"]["lb1"]["ports"]["haproxy_https"] == 8443
    assert _rules(model, "lb1")[(8443, "tcp")]["public"]


@pytest.mark.parametrize(("common", "message"), [
    ({"tls_mode": "on"}, "tls_mode = 'on', for every host: must be one of off, files, acme"),
    ({"tls_mode": "files"}, "tls_mode = 'files' needs tls_certificate_file and tls_private_key_file"),
    ({"tls_mode": "files", "tls_certificate_file": "/c.pem"}, "tls_mode = 'files' needs tls_private_key_file:"),
    ({"tls_mode": "acme", "tls_domains": ["example.com"]}, "tls_mode = 'acme' needs acme_email"),
    ({"tls_mode": "acme", "acme_email": "ops@example.com"}, "tls_mode = 'acme' needs the site's domain names"),
    ({**ACME, "acme_email": "ops"}, "acme_email = 'ops', for every host: must be an e-mail address"),
    ({**ACME, "tls_domains": ["10.0.0.1"]}, "tls_domains = a list, for every host: must be a list of domain names"),
    ({**ACME, "acme_directory_url": "http://acme.test/dir"}, "acme_directory_url = 'http://acme.test/dir', for every host: must be an https:// URL"),
    ({**ACME, "haproxy_https_port": 80}, "haproxy_https_port = 80 for host lb1: haproxy_http_port already uses that port there."),
])
def test_bad_tls_settings_are_refused_naming_the_variable(common, message):
    with pytest.raises(stack.StackError) as error:
        _model(common=common)
    assert any(line.startswith(message) for line in error.value.problems), error.value.problems


def test_tls_needs_a_load_balancer():
    groups = {"webservers": ["web1"], "db_primary": ["db1"]}
    with pytest.raises(stack.StackError, match="group loadbalancers has no host"):
        _model(groups, common={"tls_mode": "files", "tls_certificate_file": "/c", "tls_private_key_file": "/k"})


def test_the_acme_host_may_push_renewed_certificates_to_the_other_load_balancers_over_ssh():
    groups = {**REFERENCE, "loadbalancers": ["lb1", "lb2"]}
    model = _model(groups, common={**ACME, "firewall_ssh_sources": ["192.0.2.0/24"]},
                   per_host={"lb2": {"ansible_port": 2222}})
    assert model["tls"]["acme"]["peers"] == [{"host": "lb2", "address": model["hosts"]["lb2"]["address"], "port": 2222}]
    push = [f for f in model["flows"] if f["purpose"] == "certificate push"]
    assert push == [{"client": "lb1", "server": "lb2", "port": 2222, "protocol": "tcp", "service": "ssh",
                     "purpose": "certificate push"}]
    ssh = _rules(model, "lb2")[(2222, "tcp")]
    assert ssh["ipv4"] == [model["hosts"]["lb1"]["address"] + "/32", "192.0.2.0/24"]


@pytest.mark.parametrize(("value", "tls"), [(None, True), (True, True), ("true", True), (False, False),
                                            ("false", False), ("no", False)])
def test_postgresql_tls_is_on_by_default_and_read_from_the_primary(value, tls):
    per_host = {} if value is None else {"db1": {"postgresql_tls": value}}
    assert _model(per_host=per_host)["app"]["database"]["tls"] is tls


def test_postgresql_tls_refuses_other_values():
    with pytest.raises(stack.StackError, match="postgresql_tls = 'maybe', for every host: must be true or false"):
        _model(common={"postgresql_tls": "maybe"})


@pytest.mark.parametrize(("common", "header"), [
    ({"tls_hsts_preload": False}, "max-age=63072000; includeSubDomains"),
    ({"tls_hsts_seconds": 300, "tls_hsts_include_subdomains": "no", "tls_hsts_preload": False}, "max-age=300"),
    ({"tls_hsts_seconds": 0}, ""),
])
def test_the_hsts_header_haproxy_sends_follows_the_settings_django_gets(common, header):
    assert _model(common={**ACME, **common})["tls"]["hsts"]["header"] == header


# --- Backups (group db_backup) --------------------------------------------------------------------
BACKUP = {**REFERENCE, "db_backup": ["bk1"]}
CIPHER = {"pgbackrest_cipher_pass": "c" * 24}


def test_without_a_backup_host_backups_are_off_and_archiving_is_harmless():
    backup = _model()["backup"]
    assert backup["enabled"] is False and backup["host"] is None
    # A server that still archives until its restart runs a command that succeeds.
    assert backup["postgresql"] == {"archive_mode": "off", "archive_command": "/bin/true"}


def test_a_backup_host_archives_from_every_database_host_over_ssh_both_ways():
    model = _model(BACKUP, common={**CIPHER, "ansible_port": 2222})
    backup = model["backup"]
    assert backup["enabled"] and backup["host"] == "bk1" and backup["stanza"] == "demo"
    assert [d["host"] for d in backup["db_hosts"]] == ["db1", "db2"]
    assert backup["db_hosts"][0]["data_dir"] == "/var/lib/postgresql/15/main" and backup["ssh_port"] == 2222
    assert backup["postgresql"] == {"archive_mode": "on", "archive_command": "/usr/bin/pgbackrest --stanza=demo archive-push %p",
                                    "archive_timeout": "300s"}
    flows = {(f["client"], f["server"], f["port"], f["purpose"]) for f in model["flows"] if f["service"] == "ssh"}
    assert flows == {("bk1", "db1", 2222, "pgbackrest backup"), ("bk1", "db2", 2222, "pgbackrest backup"),
                     ("db1", "bk1", 2222, "pgbackrest archive"), ("db2", "bk1", 2222, "pgbackrest archive")}
    assert model["hosts"]["bk1"]["services"] == ["pgbackrest"]
    assert "pgbackrest_cipher_pass" in model["hosts"]["bk1"]["secrets"]
    # The firewall opens each host's SSH port to the other side of its flows.
    rules = {r["port"]: r for r in model["hosts"]["bk1"]["firewall"]["rules"]}
    assert 2222 in rules


def test_backups_follow_a_promotion_without_a_change():
    backup = _model(BACKUP, common=CIPHER, primary="db2")["backup"]
    assert [d["host"] for d in backup["db_hosts"]] == ["db2"]
    assert backup["postgresql"]["archive_mode"] == "on"


def test_archive_timeout_zero_leaves_the_pace_to_the_wal():
    assert _model(BACKUP, common={**CIPHER, "pgbackrest_archive_timeout": 0})["backup"]["postgresql"]["archive_timeout"] == "0"


@pytest.mark.parametrize("groups, message", [
    ({**REFERENCE, "db_backup": ["bk1", "bk2"]}, "Rule 'at most one backup repository': group db_backup has bk1, bk2"),
    ({**REFERENCE, "db_backup": ["db2"]}, "Rule 'backups live off the database hosts': host db2"),
])
def test_backup_topology_rules(groups, message):
    hosts = _inventory(groups, common=CIPHER)[0]
    assert any(p.startswith(message) for p in stack.inventory_problems(hosts, groups))


def test_the_cipher_pass_is_required_and_long_but_never_printed():
    hosts = _inventory(BACKUP)[0]
    assert "pgbackrest_cipher_pass is not set for host bk1: set it in the inventory, from Ansible Vault." in \
        stack.inventory_problems(hosts, BACKUP)
    hosts = _inventory(BACKUP, common={"pgbackrest_cipher_pass": "short-secret"})[0]
    problems = stack.inventory_problems(hosts, BACKUP)
    assert any("pgbackrest_cipher_pass for host bk1 is shorter than 20 characters" in p for p in problems)
    assert not any("short-secret" in p for p in problems)


@pytest.mark.parametrize("name, value, rule", [
    ("pgbackrest_retention_full", 0, "must be"),
    ("pgbackrest_archive_timeout", -1, "must be"),
    ("pgbackrest_archive_queue_max", "lots", "a size pgBackRest reads"),
])
def test_backup_variables_are_checked_by_name(name, value, rule):
    problems = stack.check_variables({"bk1": {name: value}})
    assert len(problems) == 1 and problems[0].startswith(f"{name} = ") and rule in problems[0]


def test_pgbackrest_needs_one_debian_release_for_the_repository_and_the_databases():
    groups = {"webservers": ["web1"], "db_primary": ["db1"], "db_backup": ["bk1"]}
    hosts, facts = _inventory(groups, common=CIPHER)
    facts["bk1"]["distribution_major_version"] = "13"
    with pytest.raises(stack.StackError, match="pgBackRest needs the same version on all of them"):
        stack.stack_model(hosts, groups, facts)


# --- the connection pooler (postgresql_pooler) ---------------------------------------------------------

POOLED = {"postgresql_pooler": "pgbouncer", "pgbouncer_auth_password": "b" * 16}


def test_without_the_pooler_the_app_connects_to_postgresql_directly():
    model = _model()
    primary = model["endpoints"]["app_database"][0]
    assert primary == {"host": "db1", "address": "10.0.0.3", "port": 5432, "direct_port": 5432, "pooled": False}
    assert [e["port"] for e in model["endpoints"]["app_database_replicas"]] == [5432]
    assert not [f for f in model["flows"] if f["service"] == "pgbouncer"]
    assert "pgbouncer_auth_password" not in model["hosts"]["db1"]["secrets"]


def test_with_pgbouncer_the_app_goes_through_each_database_hosts_pooler_and_migrates_directly():
    model = _model(common={**POOLED, "pgbouncer_port": 6543, "postgresql_port": 5433})
    assert model["app"]["database"]["pooler"] == "pgbouncer"
    primary, = model["endpoints"]["app_database"]
    assert (primary["host"], primary["port"], primary["direct_port"], primary["pooled"]) == ("db1", 6543, 5433, True)
    assert [(e["host"], e["port"]) for e in model["endpoints"]["app_database_replicas"]] == [("db2", 6543)]
    # The direct endpoint (replication, promote.yml) stays PostgreSQL's own.
    assert model["endpoints"]["postgresql"][0]["port"] == 5433
    flows = {(f["client"], f["server"], f["port"], f["service"], f["purpose"]) for f in model["flows"]}
    for app in ("web1", "web2", "worker1", "beat1"):
        assert (app, "db1", 6543, "pgbouncer", "app") in flows
        assert (app, "db2", 6543, "pgbouncer", "app-read") in flows
        # PostgreSQL itself stays open to the app: migrations on the primary, and a replica may become it.
        assert (app, "db1", 5433, "postgresql", "app") in flows
        assert (app, "db2", 5433, "postgresql", "app-read") in flows
    assert ("db1", "db1", 5433, "postgresql", "pooler") in flows
    # The firewall opens the pooler's port to the app hosts; the loopback flow opens nothing.
    rules = {r["port"]: r for r in model["hosts"]["db2"]["firewall"]["rules"]}
    assert rules[6543]["ipv4"] == ["10.0.0.1/32", "10.0.0.7/32", "10.0.0.8/32", "10.0.0.9/32"]
    assert rules[5433]["ipv4"] == ["10.0.0.1/32", "10.0.0.3/32", "10.0.0.7/32", "10.0.0.8/32", "10.0.0.9/32"]
    # pg_hba's clients: the app hosts as before, the pooler on loopback apart (role postgresql).
    clients = model["hosts"]["db1"]["clients"]["postgresql"]
    assert [c["host"] for c in clients if c["purpose"] == "pooler"] == ["db1"]
    assert "pgbouncer_auth_password" in model["hosts"]["db2"]["secrets"]
    assert "pgbouncer_auth_password" not in model["hosts"]["web1"]["secrets"]
    assert model["sizing"]["hosts"]["db1"]["pgbouncer"]["default_pool_size"] >= 1


def test_a_bad_pooler_or_its_port_is_refused_naming_the_variable():
    with pytest.raises(stack.StackError, match=r"postgresql_pooler = 'pgpool'.*must be one of none, pgbouncer"):
        _model(common={"postgresql_pooler": "pgpool"})
    with pytest.raises(stack.StackError, match=r"pgbouncer_port = 70000.*from 1 to 65535"):
        _model(common={**POOLED, "pgbouncer_port": 70000})
    with pytest.raises(stack.StackError, match=r"pgbouncer_port = 5432 for host db1: postgresql_port already uses"):
        _model(common={**POOLED, "pgbouncer_port": 5432})


def test_the_pooler_needs_its_auth_password_named_never_its_value():
    hosts, _facts_unused = _inventory(REFERENCE, common={"postgresql_pooler": "pgbouncer"})
    problems = stack.inventory_problems(hosts, REFERENCE)
    assert problems == ["pgbouncer_auth_password is not set for hosts db1, db2: set it in the inventory, from Ansible Vault."]
