#!/usr/bin/python3
"""Load balancer golden test on net_pcap: crafted frames in, frames on the
wire out, per forwarding method.

ext (pcap0): a client's SYNs to one VIP per method (dr, nat, fnat, tun, nat
over IPv6), and to VIP ports without a service. int (pcap1): the real
servers' ARP replies / NA (so the appliance learns their MACs) and their
SYN-ACKs for the nat and fnat flows. Checked on the wire: every SYN
rewritten as its method says, with correct checksums; the replies SNATed
back to VIP:port towards the client; nothing for the ports without a
service; neighbour probes sent."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lab  # noqa: E402

from scapy.all import (ARP, ICMP, IP, IPerror, IPv6, TCP, TCPerror, UDP, UDPerror, Ether,  # noqa: E402
                       ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, defragment, fragment, rdpcap, wrpcap)

EXT_MAC, INT_MAC = "02:70:63:61:70:00", "02:70:63:61:70:01"   # net_pcap's MACs for pcap0/pcap1
CLIENT_MAC = "02:00:00:00:00:0c"
CLIENT, CLIENT6 = "192.0.2.1", "2001:db8::c1"
RS = {"dr": "10.20.0.11", "nat": "10.20.0.12", "fnat": "10.20.0.13", "tun": "10.20.0.14", "nat6": "fd20::12"}
RS_MAC = {k: f"02:00:00:00:01:{i:02x}" for i, k in enumerate(RS)}
VIP = {"dr": "10.10.0.100", "nat": "10.10.0.101", "fnat": "10.10.0.102", "tun": "10.10.0.103", "nat6": "fd10::101"}
SPORT = {"dr": 40000, "nat": 40001, "fnat": 40002, "tun": 40003, "nat6": 40004}
LIP = "10.20.0.200"

report = lab.Report()
workdir = lab.tempfile.mkdtemp(prefix="hp-lbpcap-")
rx0, tx0 = os.path.join(workdir, "rx0.pcap"), os.path.join(workdir, "tx0.pcap")
rx1, tx1 = os.path.join(workdir, "rx1.pcap"), os.path.join(workdir, "tx1.pcap")


def syn(method, dport=80, proto=TCP):
    ip = IPv6(src=CLIENT6, dst=VIP[method], hlim=64) if ":" in VIP[method] else IP(src=CLIENT, dst=VIP[method], ttl=64)
    l4 = TCP(sport=SPORT[method], dport=dport, flags="S", seq=1000, options=[("MSS", 1460)]) \
        if proto is TCP else UDP(sport=SPORT[method], dport=dport) / b"hello"
    return Ether(src=CLIENT_MAC, dst=EXT_MAC) / ip / l4


ext_in = [syn(m) for m in VIP] + [syn("dr", dport=81), syn("dr", proto=UDP)]
# A DNS query to the udp nat service, and a router's "fragmentation needed"
# about the nat TCP flow's answer (VIP:80 -> client) on the client side.
DNS_SPORT = 40010
ext_in.append(Ether(src=CLIENT_MAC, dst=EXT_MAC) / IP(src=CLIENT, dst=VIP["nat"], ttl=64) /
              UDP(sport=DNS_SPORT, dport=53) / b"query")
ext_in.append(Ether(src=CLIENT_MAC, dst=EXT_MAC) / IP(src="198.51.100.1", dst=VIP["nat"], ttl=64) /
              ICMP(type=3, code=4, nexthopmtu=1300) /
              IP(src=VIP["nat"], dst=CLIENT, ttl=63, len=1500) / TCP(sport=80, dport=SPORT["nat"], flags="A", seq=5001))

# A datagram over the MTU to the udp nat service, in three fragments (only
# the first has the UDP header); its answer comes back in three too.
BIG_SPORT, BIG_ID, BIG_REPLY_ID = 40020, 0x4242, 0x5151
big_query = IP(src=CLIENT, dst=VIP["nat"], ttl=64, id=BIG_ID) / UDP(sport=BIG_SPORT, dport=53) / (b"q" * 2600)
ext_in += [Ether(src=CLIENT_MAC, dst=EXT_MAC) / f for f in fragment(big_query, fragsize=1200)]

int_in = []
for m, addr in RS.items():
    if ":" in addr:
        int_in.append(Ether(src=RS_MAC[m], dst=INT_MAC) / IPv6(src=addr, dst="fd20::2", hlim=255) /
                      ICMPv6ND_NA(tgt=addr, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=RS_MAC[m]))
    else:
        int_in.append(Ether(src=RS_MAC[m], dst=INT_MAC) /
                      ARP(op=2, hwsrc=RS_MAC[m], psrc=addr, hwdst=INT_MAC, pdst="10.20.0.2"))
# The servers' answers (they route through the appliance for nat; fnat's
# go to the local address). fnat's first flow gets the first port of the
# only worker's range: 1024.
int_in.append(Ether(src=RS_MAC["nat"], dst=INT_MAC) / IP(src=RS["nat"], dst=CLIENT, ttl=64) /
              TCP(sport=8080, dport=SPORT["nat"], flags="SA", seq=5000, ack=1001) / (b"x" * 11))
int_in.append(Ether(src=RS_MAC["fnat"], dst=INT_MAC) / IP(src=RS["fnat"], dst=LIP, ttl=64) /
              TCP(sport=80, dport=1024, flags="SA", seq=6000, ack=1001))
int_in.append(Ether(src=RS_MAC["nat6"], dst=INT_MAC) / IPv6(src=RS["nat6"], dst=CLIENT6, hlim=64) /
              TCP(sport=80, dport=SPORT["nat6"], flags="SA", seq=7000, ack=1001))
# The dns server has nothing on port 53: port unreachable, quoting the
# datagram as it got it (10.20.0.12:53, TTL 63).
int_in.append(Ether(src=RS_MAC["nat"], dst=INT_MAC) / IP(src=RS["nat"], dst=CLIENT, ttl=64) / ICMP(type=3, code=3) /
              IP(src=CLIENT, dst=RS["nat"], ttl=63) / UDP(sport=DNS_SPORT, dport=53) / b"query")
big_answer = IP(src=RS["nat"], dst=CLIENT, ttl=64, id=BIG_REPLY_ID) / UDP(sport=53, dport=BIG_SPORT) / (b"a" * 2400)
int_in += [Ether(src=RS_MAC["nat"], dst=INT_MAC) / f for f in fragment(big_answer, fragsize=1000)]
wrpcap(rx0, ext_in, linktype=1)
wrpcap(rx1, int_in, linktype=1)


def vs(name, vip, method, server, port=None, extra=""):
    rs_port = f", port: {port}" if port else ""
    return f"""  - name: {name}
    vip: {vip}
    port: 80
    scheduler: rr
    method: {method}{extra}
    real_servers: [{{address: {server}{rs_port}}}]
"""


config = f"""
global:
  router_id: lb-pcap
  control_socket: "@SOCKET@"
  connections_per_lcore: 10000
{lab.dpdk_section()}
ports:
  - name: ext
    device: "net_pcap0,rx_pcap={rx0},tx_pcap={tx0}"
    addresses: [10.10.0.2/24, fd10::2/64]
  - name: int
    device: "net_pcap1,rx_pcap={rx1},tx_pcap={tx1}"
    addresses: [10.20.0.2/24, fd20::2/64]
virtual_servers:
{vs("dr", VIP["dr"], "dr", RS["dr"])}{vs("nat", VIP["nat"], "nat", RS["nat"], port=8080)}{vs("fnat", VIP["fnat"], "fnat", RS["fnat"], extra=chr(10) + "    local_addresses: [" + LIP + "]")}{vs("tun", VIP["tun"], "tun", RS["tun"])}{vs("nat6", VIP["nat6"], "nat", RS["nat6"])}  - name: dns
    vip: {VIP["nat"]}
    port: 53
    protocol: udp
    method: nat
    real_servers: [{{address: {RS["nat"]}}}]
"""


def checksums_ok(p):
    """Scapy recomputes every checksum; the frame must not change."""
    fresh = p.copy()
    for layer in (IP, TCP, UDP, ICMP, IPerror, TCPerror, UDPerror):
        for lay in fresh.iterpayloads():
            if isinstance(lay, layer) and hasattr(lay, "chksum"):
                del lay.chksum
    return bytes(Ether(bytes(fresh))) == bytes(p)


hp = lab.Haplane(config)
try:
    if not hp.wait_ready():
        report.bail("haplane did not start:\n" + hp.output())
    ports = {p["name"]: p for p in hp.status()["ports"]}
    report.check(ports["ext"]["mac"] == EXT_MAC and ports["int"]["mac"] == INT_MAC,
                 "net_pcap ports have the MACs the frames were made for", str({k: v["mac"] for k, v in ports.items()}))

    def forwarded():
        st = hp.status()
        return sum(rs["in_packets"] for v in st["virtual_servers"] for rs in v["real_servers"]) >= 7 and \
            sum(v["out_packets"] for v in st["virtual_servers"]) >= 4
    lab.wait_for(forwarded, 10)
    st = hp.status()
    by_name = {v["name"]: v for v in st["virtual_servers"]}
    for m in VIP:
        v = by_name[m]
        want = 2 if m == "nat" else 1   # nat: the SYN and the ICMP error about its answer
        report.check(v["in_packets"] == want and v["connections"] == 1,
                     f"{m}: one flow, {want} packet(s) to the real server", str(v))
    for m in ("nat", "fnat", "nat6"):
        report.check(by_name[m]["out_packets"] == 1, f"{m}: the server's answer went back", str(by_name[m]))
    report.check(all(n["mac"] for n in st["lb"]["neighbours"]), "every real server's MAC was learnt",
                 str(st["lb"]["neighbours"]))
    report.check(st["lb"]["drops"]["no_neighbour"] == 0, "nothing dropped while resolving (held, then sent)",
                 str(st["lb"]["drops"]))
    ext = next(p for p in st["ports"] if p["name"] == "ext")
    report.check(ext["classes"]["to_lb"] == 10, "ten frames claimed on ext (three of them fragments)",
                 str(ext["classes"]))
    report.check(st["lb"]["drops"]["fragment"] == 0, "no fragment dropped", str(st["lb"]["drops"]))
    report.check(ext["classes"]["not_mine"] == 2,
                 "VIP port without a service and UDP to a TCP service are not claimed", str(ext["classes"]))
    services_text = hp.ctl("services").stdout
    report.check(re.search(r"10\.10\.0\.101:80\s+rr\s+nat", services_text) and "10.20.0.12:8080" in services_text,
                 "haplanectl services lists services and real servers", services_text)
finally:
    rc = hp.stop()
report.check(rc == 0, "haplane stops with exit code 0", hp.output())

out_ext = rdpcap(tx0) if os.path.exists(tx0) else []
out_int = rdpcap(tx1) if os.path.exists(tx1) else []
dump = "ext:\n" + "\n".join(p.summary() for p in out_ext) + "\nint:\n" + "\n".join(p.summary() for p in out_int)


def find(frames, pred):
    return next((p for p in frames if pred(p)), None)


# Neighbour probes from the port's own address.
report.check(find(out_int, lambda p: ARP in p and p[ARP].op == 1 and p[ARP].pdst == RS["nat"] and
                  p[ARP].psrc == "10.20.0.2" and p[Ether].src == INT_MAC) is not None,
             "ARP request for a real server, from the int address", dump)
report.check(find(out_int, lambda p: ICMPv6ND_NS in p and p[ICMPv6ND_NS].tgt == RS["nat6"] and
                  p[IPv6].src == "fd20::2") is not None, "neighbour solicitation for an IPv6 real server", dump)

tcp_out = [p for p in out_int if TCP in p and IP in p and p[IP].proto == 6]
dr = find(tcp_out, lambda p: p[TCP].sport == SPORT["dr"])
if report.check(dr is not None, "dr: the SYN left on int", dump):
    report.check(dr[Ether].dst == RS_MAC["dr"] and dr[Ether].src == INT_MAC,
                 "dr: Ethernet to the real server from the int port", dr.show(dump=True))
    report.check(dr[IP].dst == VIP["dr"] and dr[IP].src == CLIENT and dr[IP].ttl == 64 and dr[TCP].dport == 80,
                 "dr: IP and TCP untouched", dr.show(dump=True))
    report.check(checksums_ok(dr), "dr: checksums right")

nat = find(tcp_out, lambda p: p[TCP].sport == SPORT["nat"])
if report.check(nat is not None, "nat: the SYN left on int", dump):
    report.check(nat[Ether].dst == RS_MAC["nat"] and nat[IP].dst == RS["nat"] and nat[TCP].dport == 8080,
                 "nat: destination rewritten to the real server 10.20.0.12:8080", nat.show(dump=True))
    report.check(nat[IP].src == CLIENT and nat[IP].ttl == 63, "nat: client address kept, TTL decremented",
                 nat.show(dump=True))
    report.check(checksums_ok(nat), "nat: IP and TCP checksums right", nat.show(dump=True))

fnat = find(tcp_out, lambda p: p[IP].dst == RS["fnat"])
if report.check(fnat is not None, "fnat: the SYN left on int", dump):
    report.check(fnat[IP].src == LIP and fnat[TCP].sport == 1024 and fnat[TCP].dport == 80,
                 "fnat: source is local address 10.20.0.200, port 1024", fnat.show(dump=True))
    report.check(checksums_ok(fnat), "fnat: checksums right", fnat.show(dump=True))

tun = find(out_int, lambda p: IP in p and p[IP].proto == 4)
if report.check(tun is not None, "tun: an IPIP packet left on int", dump):
    inner = IP(bytes(tun[IP].payload))
    report.check(tun[IP].src == "10.20.0.2" and tun[IP].dst == RS["tun"] and tun[Ether].dst == RS_MAC["tun"],
                 "tun: outer header 10.20.0.2 -> real server", tun.show(dump=True))
    report.check(inner.dst == VIP["tun"] and inner[TCP].sport == SPORT["tun"] and inner.ttl == 64,
                 "tun: inner packet is the client's, to the VIP", inner.show(dump=True))
    report.check(dict(inner[TCP].options).get("MSS") == 1460 - 20, "tun: MSS clamped by the outer header's size",
                 str(inner[TCP].options))
    report.check(checksums_ok(tun) and checksums_ok(Ether() / inner), "tun: outer and inner checksums right")

nat6 = find(out_int, lambda p: IPv6 in p and TCP in p)
if report.check(nat6 is not None, "nat over IPv6: the SYN left on int", dump):
    report.check(nat6[IPv6].dst == RS["nat6"] and nat6[IPv6].hlim == 63 and nat6[Ether].dst == RS_MAC["nat6"],
                 "nat6: destination rewritten, hop limit decremented", nat6.show(dump=True))
    report.check(checksums_ok(nat6), "nat6: TCP checksum right")

report.check(find(out_int + out_ext, lambda p: TCP in p and p[TCP].dport == 81) is None and
             find(out_int + out_ext, lambda p: UDP in p and UDP in p and p[UDP].sport == SPORT["dr"]) is None,
             "nothing forwarded for a VIP port without a service", dump)

back = [p for p in out_ext if TCP in p]
r_nat = find(back, lambda p: p[TCP].dport == SPORT["nat"])
if report.check(r_nat is not None, "nat reply: left on ext", dump):
    report.check(r_nat[IP].src == VIP["nat"] and r_nat[TCP].sport == 80 and r_nat[IP].dst == CLIENT,
                 "nat reply: from VIP:80 to the client", r_nat.show(dump=True))
    report.check(r_nat[Ether].dst == CLIENT_MAC and r_nat[Ether].src == EXT_MAC and r_nat[IP].ttl == 63,
                 "nat reply: to the client's MAC from the ext port, TTL decremented", r_nat.show(dump=True))
    report.check(checksums_ok(r_nat) and bytes(r_nat[TCP].payload)[:11] == b"x" * 11,
                 "nat reply: checksums right, payload intact")
r_fnat = find(back, lambda p: p[TCP].dport == SPORT["fnat"])
if report.check(r_fnat is not None, "fnat reply: left on ext", dump):
    report.check(r_fnat[IP].src == VIP["fnat"] and r_fnat[TCP].sport == 80 and r_fnat[IP].dst == CLIENT,
                 "fnat reply: from VIP:80 back to the client's address and port", r_fnat.show(dump=True))
    report.check(checksums_ok(r_fnat), "fnat reply: checksums right")
r_nat6 = find(back, lambda p: IPv6 in p and p[TCP].dport == SPORT["nat6"])
if report.check(r_nat6 is not None, "nat6 reply: left on ext", dump):
    report.check(r_nat6[IPv6].src == VIP["nat6"] and r_nat6[IPv6].dst == CLIENT6 and checksums_ok(r_nat6),
                 "nat6 reply: from the VIP, checksum right", r_nat6.show(dump=True))

# ICMP errors about tracked flows, translated.
unreach = find(out_ext, lambda p: ICMP in p and p[ICMP].type == 3 and p[ICMP].code == 3)
if report.check(unreach is not None, "icmp: the server's port unreachable went back to the client", dump):
    report.check(unreach[IP].src == VIP["nat"] and unreach[IP].dst == CLIENT and unreach[Ether].dst == CLIENT_MAC,
                 "icmp: from the VIP to the client", unreach.show(dump=True))
    report.check(unreach[IPerror].dst == VIP["nat"] and unreach[UDPerror].dport == 53 and
                 unreach[UDPerror].sport == DNS_SPORT,
                 "icmp: it quotes the client's own datagram (to VIP:53)", unreach.show(dump=True))
    report.check(checksums_ok(unreach), "icmp: ICMP and quoted header checksums right", unreach.show(dump=True))
toobig = find(out_int, lambda p: ICMP in p and p[ICMP].type == 3 and p[ICMP].code == 4)
if report.check(toobig is not None, "icmp: fragmentation needed went on to the real server", dump):
    report.check(toobig[IP].dst == RS["nat"] and toobig[Ether].dst == RS_MAC["nat"] and toobig[ICMP].nexthopmtu == 1300,
                 "icmp: to the nat real server, MTU kept", toobig.show(dump=True))
    report.check(toobig[IPerror].src == RS["nat"] and toobig[TCPerror].sport == 8080,
                 "icmp: it quotes the answer as the server sent it (10.20.0.12:8080)", toobig.show(dump=True))
    report.check(checksums_ok(toobig), "icmp: checksums right", toobig.show(dump=True))


# Fragments: each follows its datagram's first (which alone has the ports).
def fragments_of(frames, ident):
    return sorted((p for p in frames if IP in p and p[IP].id == ident), key=lambda p: p[IP].frag)


def udp_checksum_right(datagram):
    fresh = IP(bytes(datagram))
    del fresh[UDP].chksum
    return IP(bytes(fresh))[UDP].chksum == datagram[UDP].chksum


def ip_checksum_right(p):
    fresh = IP(bytes(p[IP]))
    del fresh.chksum
    return IP(bytes(fresh)).chksum == p[IP].chksum


sent = fragment(big_query, fragsize=1200)
frags = fragments_of(out_int, BIG_ID)
if report.check(len(frags) == len(sent) == 3, "fragments: all three of the client's left on int", dump):
    report.check(all(f[IP].dst == RS["nat"] and f[IP].src == CLIENT and f[IP].ttl == 63 and
                     f[Ether].dst == RS_MAC["nat"] for f in frags),
                 "fragments: every one to the nat real server, TTL decremented", "\n".join(f.summary() for f in frags))
    report.check([f[IP].frag for f in frags] == [f[IP].frag for f in sent] and
                 [len(f[IP]) for f in frags] == [len(f) for f in sent],
                 "fragments: offsets and lengths as sent", "\n".join(f.summary() for f in frags))
    report.check(all(ip_checksum_right(f) for f in frags), "fragments: IP header checksums right")
    whole = defragment([f[IP] for f in frags])
    report.check(len(whole) == 1 and UDP in whole[0] and whole[0][UDP].dport == 53 and
                 bytes(whole[0][UDP].payload) == b"q" * 2600 and udp_checksum_right(whole[0]),
                 "fragments: put together, the datagram's UDP checksum holds for the new destination",
                 whole[0].show(dump=True) if whole else "")
answer = fragments_of(out_ext, BIG_REPLY_ID)
if report.check(len(answer) == 3, "fragments: the server's three answer fragments left on ext", dump):
    report.check(all(f[IP].src == VIP["nat"] and f[IP].dst == CLIENT and f[Ether].dst == CLIENT_MAC and
                     ip_checksum_right(f) for f in answer),
                 "fragments: every answer fragment from the VIP to the client", "\n".join(f.summary() for f in answer))
    whole = defragment([f[IP] for f in answer])
    report.check(len(whole) == 1 and UDP in whole[0] and whole[0][UDP].sport == 53 and
                 bytes(whole[0][UDP].payload) == b"a" * 2400 and udp_checksum_right(whole[0]),
                 "fragments: the answer, put together, from VIP:53 with a right checksum",
                 whole[0].show(dump=True) if whole else "")
report.finish()
