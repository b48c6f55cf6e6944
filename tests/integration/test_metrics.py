#!/usr/bin/python3
"""The Prometheus endpoint, fetched over HTTP and read by a real parser
(python3-prometheus-client's text parser, as Prometheus would)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from scapy.all import ARP, Ether, wrpcap  # noqa: E402

NS = f"hp-met-{os.getpid()}"
report = lab.Report()
work = lab.tempfile.mkdtemp(prefix="hp-met-")
rx, tx = os.path.join(work, "rx.pcap"), os.path.join(work, "tx.pcap")
wrpcap(rx, [Ether(src="02:00:00:00:00:02", dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, psrc="10.0.0.2", pdst="10.0.0.1")] * 3)

with lab.netns(NS):
    hp = lab.Haplane(f"""
global:
  router_id: "metrics \\"lab\\""
  control_socket: "@SOCKET@"
  metrics: {{ listen: "127.0.0.1:9469" }}
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_pcap0,rx_pcap={rx},tx_pcap={tx}"
    addresses: [10.0.0.1/24]
vrrp_instances:
  - name: VI_1
    port: ext
    vrid: 51
    priority: 255
    advert_interval: 100ms
    virtual_ipaddresses: [10.0.0.100/24]
virtual_servers:
  - name: web
    vip: 10.0.0.100
    port: 80
    sorry_server: {{ address: 10.0.0.99, port: 8080 }}
    real_servers:
      - address: 10.0.0.11
        port: 8080
""", ns=NS)
    try:
        if not hp.wait_ready():
            report.bail("haplane did not start:\n" + hp.output())
        lab.wait_for(lambda: hp.status()["vrrp"][0]["state"] == "MASTER", 3)
        r = lab.run(["curl", "-sS", "-i", "--max-time", "3", "http://127.0.0.1:9469/metrics"], ns=NS, check=False)
        report.check(r.returncode == 0 and r.stdout.startswith("HTTP/1.1 200"), "GET /metrics answers 200", r.stderr)
        head, _, body = r.stdout.partition("\n\n")   # text mode turned \r\n into \n
        report.check("text/plain; version=0.0.4" in head, "with Prometheus's content type", head)
        try:
            families = {f.name: f for f in text_string_to_metric_families(body)}
            parsed = True
        except Exception as e:  # noqa: BLE001
            families, parsed = {}, False
            report.check(False, "the exposition parses", f"{e}\n{body}")
        if parsed:
            report.check(True, "the exposition parses")

        def sample(name, **labels):
            fam = families.get(name) or families.get(name.removesuffix("_total"))
            for s in fam.samples if fam else []:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return s.value
            return None

        report.check(sample("haplane_up", router_id='metrics "lab"') == 1, "haplane_up with an escaped router_id label",
                     body[:300])
        report.check(sample("haplane_vrrp_state", instance="VI_1") == 2, "haplane_vrrp_state{instance=VI_1} is 2 (MASTER)")
        report.check(sample("haplane_vrrp_transitions_total", instance="VI_1") == 1, "transitions_total counts INIT->MASTER")
        report.check((sample("haplane_vrrp_adverts_sent_total", instance="VI_1") or 0) > 0, "adverts_sent_total grows")
        report.check(sample("haplane_port_rx_packets_total", port="ext") == 3, "port rx_packets_total is 3")
        report.check(sample("haplane_rs_up", vs="web", address="10.0.0.11", port="8080") is not None,
                     "haplane_rs_up for the real server")
        report.check(sample("haplane_vs_connections_active", vs="web") == 0, "haplane_vs_connections_active is there")
        report.check(sample("haplane_vs_sorry_server_active", vs="web") == 0, "haplane_vs_sorry_server_active is 0")
        report.check(sample("haplane_lb_drops_total", reason="table_full") == 0, "haplane_lb_drops_total by reason")
        report.check(sample("haplane_lb_connection_table_entries", worker="0") == 0 and
                     sample("haplane_lb_connection_table_capacity", worker="0") == 1000000,
                     "the connection table's entries (0) and capacity (1 M) per worker")
        report.check(families.get("haplane_vrrp_state") is not None and families["haplane_vrrp_state"].type == "gauge",
                     "state is a gauge")
        r = lab.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:9469/nope"], ns=NS,
                    check=False)
        report.check(r.stdout == "404", "other paths answer 404", r.stdout)
    finally:
        hp.stop()
report.finish()
