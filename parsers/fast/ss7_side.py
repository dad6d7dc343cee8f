"""The Python side of the compiled SS7 kernels (parsers/fast/ss7.py, parsers/fast/mtp.py): their state and
output arrays (``Ss7Fast.ctx``), the links shared with parsers/ss7flow.py (registered by ``sync``), the
retransmission filter shared with parsers/sctp.py (``_Retx``), and the output rows as Arrow tables
(``take``)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import arrow as _arrow
from .numbers import normalize_column
from .ss7 import (_MSG_NAME_ARRAY, DIGIT_COLS, INT_COLS, LINK_SLOTS, MAX_CHUNKS, N_COLS, NORM_COLS, R_DIG,
                  R_DST, R_LINK, R_MT, R_OPT_COUNT, R_OPT_FIRST, R_RAW_LEN, R_RAW_START, R_SRC, RETX_SLOTS,
                  RETX_WINDOW, S_OPT, S_POOL, S_ROWS, T_M2PA, T_M2UA, T_M3UA, T_MTP, V_ANSI, V_PC24, V_UNDECIDED,
                  _link_put, _retx_py)


# ================================================================== Python side
class _Retx:
    """Drop-in for parsers/sctp.py ``Retransmissions`` on the kernel's state (``flow._retx``)."""

    __slots__ = ("table", "ring_k", "ring_h", "st")

    def __init__(self, table, ring_k, ring_h, st) -> None:
        self.table, self.ring_k, self.ring_h, self.st = table, ring_k, ring_h, st

    def is_dup(self, direction, tsn: int, chunk) -> bool:
        src, dst, sport, dport, vtag = direction
        a = np.frombuffer(chunk, dtype=np.uint8)
        return bool(_retx_py(self.table, self.ring_k, self.ring_h, self.st, _addr_key(src, dst), sport, dport,
                             vtag, tsn, a))


def _addr_key(src, dst) -> int:
    """The kernel's int64 key of an IPv4 address pair ((src << 32) | dst, two's complement); other
    addresses (IPv6, none) get a hash of their text: the key only separates associations."""
    s, d = _ipv4(src), _ipv4(dst)
    if s < 0 or d < 0:
        return hash((src, dst)) & 0x7FFFFFFFFFFFFFFF
    v = (s << 32) | d
    return v - (1 << 64) if v >= 1 << 63 else v


def _ipv4(text) -> int:
    """Dotted quad -> int, -1 if ``text`` is not an IPv4 address string."""
    if not isinstance(text, str):
        return -1
    parts = text.split(".")
    if len(parts) != 4:
        return -1
    v = 0
    for p in parts:
        if not p.isdigit() or len(p) > 3 or int(p) > 255:
            return -1
        v = (v << 8) | int(p)
    return v


class Ss7Fast:
    """State and outputs of ``sctp_packet`` for one capture (see parsers/fast/__init__.py)."""

    def __init__(self, flow, capacity: int = 32768):
        self.flow = flow
        self.capacity = capacity
        st = np.zeros(8, dtype=np.int64)
        R = np.full((N_COLS, capacity), -1, dtype=np.int64)
        pool = np.zeros(capacity * 64 + (1 << 18), dtype=np.uint8)
        opt = np.zeros(capacity * 16 + (1 << 16), dtype=np.int16)
        scratch = np.zeros((MAX_CHUNKS, 5), dtype=np.int64)
        table = np.full(RETX_SLOTS, -1, dtype=np.int32)
        ring_k = np.full((RETX_WINDOW, 3), -1, dtype=np.int64)
        ring_h = np.zeros(RETX_WINDOW, dtype=np.uint64)
        lk = np.zeros((LINK_SLOTS, 2), dtype=np.int64)
        lv = np.full(LINK_SLOTS, -1, dtype=np.int64)
        link_msgs = np.zeros(LINK_SLOTS, dtype=np.int64)
        lfcs = np.full(LINK_SLOTS, -1, dtype=np.int64)  # MTP2 links: FCS decision (-1 none yet), = Link.fcs
        # numpy arrays only: a typed Dict in ctx costs ~65 us per call from Python
        self.ctx = (st, R, pool, opt, scratch, table, ring_k, ring_h, lk, lv, link_msgs, lfcs)
        self._lfcs = lfcs
        self._mtp: list = []  # (link index, Link) of MTP2/MTP3 link-type links
        self._st, self._R, self._pool, self._opt = st, R, pool, opt
        self._lk, self._lv, self._link_msgs = lk, lv, link_msgs
        self._link_list: list = []
        self._link_idx: dict[int, int] = {}
        self._watch: dict[int, list] = {}
        flow._retx = _Retx(table, ring_k, ring_h, st)
        flow.link_events = []
        for k, link in list(flow._links.items()):
            if len(k) in (3, 6):
                flow.link_events.append((k, link))
        self.sync()

    # ---------------------------------------------------------------- links
    def _register(self, k, link) -> None:
        """Put association direction ``k`` (an Ss7Flow._links key) into the kernel's link table."""
        if len(k) == 3:  # ("mtp2" | "mtp3", link type, link number): Ss7Flow._mtp_link
            tr, src, sport, dst, dport = T_MTP, int(k[1]), 0, int(k[2]), 0
        else:
            tr = T_M3UA if k[0] == "m3ua" else T_M2PA if k[0] == "m2pa" else T_M2UA
            src, dst, sport, dport = _ipv4(k[2]), _ipv4(k[4]), int(k[3]), int(k[5])
            if src < 0 or dst < 0:
                return
        idx = self._link_idx.get(id(link))
        if idx is None:
            idx = len(self._link_list)
            if idx >= LINK_SLOTS // 2:
                return  # table full: this association stays on the Python path
            self._link_idx[id(link)] = idx
            self._link_list.append(link)
            if tr == T_MTP:
                self._mtp.append((idx, link))
                self._lfcs[idx] = -1 if link.fcs is None else int(link.fcs)
        if link.pending is not None:
            val = V_UNDECIDED
        else:
            val = (V_ANSI if link.ansi else 0) | (V_PC24 if link.pc_bits == 24 else 0)
        _link_put(self._lk, self._lv, self._st, tr, src, sport, dst, dport, (idx << 3) | val)

    def sync(self) -> None:
        """Register the association directions the Python side has created since last time (M3UA with
        explicit point codes, M2PA, M2UA; IPv4; MTP2/MTP3 link-type links), and re-register those of links
        decided since. MTP2 links' FCS decisions made by Python (``Link.fcs``) go back to the kernel."""
        lfcs = self._lfcs
        for idx, link in self._mtp:
            lfcs[idx] = -1 if link.fcs is None else int(link.fcs)
        ev = self.flow.link_events
        if not ev:
            return
        for k, link in ev:
            if k is None:
                for key in self._watch.pop(id(link), ()):
                    self._register(key, link)
            elif (k[0] == "m3ua" and k[1] is True) or k[0] in ("m2pa", "m2ua") or len(k) == 3:
                self._register(k, link)
                if link.pending is not None:
                    self._watch.setdefault(id(link), []).append(k)
        ev.clear()

    def to_python(self) -> None:
        """Before Python decodes records: the kernel's FCS decisions of MTP2 links into ``Link.fcs``."""
        lfcs = self._lfcs
        for idx, link in self._mtp:
            v = int(lfcs[idx])
            link.fcs = None if v < 0 else bool(v)

    # ---------------------------------------------------------------- outputs
    def pending(self) -> int:
        return int(self._st[S_ROWS])

    def take(self, buf, schema):
        n = int(self._st[S_ROWS])
        if n == 0:
            return None
        R = self._R
        pool = self._pool
        cols = {}
        for i, name in enumerate(INT_COLS):
            if name not in ("src_ip", "dst_ip"):
                # views; every conversion below copies (arrow.ints always does, ts explicitly): R is
                # refilled by the next block while the table may still wait in the append queue
                cols[name] = R[i, :n]
        links = self._link_list
        li = pa.array(R[R_LINK, :n].astype(np.int32))
        for d, name in enumerate(DIGIT_COLS):
            start, length = R[R_DIG + 2 * d, :n], R[R_DIG + 2 * d + 1, :n]
            cols[name + "_digits"] = _arrow.strings(pool, start, length)
            if name in NORM_COLS:  # normalize(digits, noa) when digits are non-empty (compiled)
                noa = R[INT_COLS.index(name + "_noa"), :n]
                cols[name + "_norm"] = normalize_column(cols[name + "_digits"], np.where(noa >= 0, noa, -1))
        arrays = []
        for f in schema:
            name, typ = f.name, f.type
            if name in cols and isinstance(cols[name], np.ndarray):
                v = cols[name]
                if name == "ts":
                    arrays.append(pa.Array.from_buffers(typ, n, [None, pa.py_buffer(v.copy())]))
                elif pa.types.is_boolean(typ):
                    arrays.append(pa.array(v == 1, mask=v < 0, type=typ))
                else:
                    arrays.append(_arrow.ints(v, v >= 0, typ))
            elif name in cols:
                arrays.append(cols[name])
            elif name == "src_ip":
                arrays.append(_arrow.ipv4_strings(R[R_SRC, :n]))
            elif name == "dst_ip":
                arrays.append(_arrow.ipv4_strings(R[R_DST, :n]))
            elif name == "link_key":
                arrays.append(pa.array([lk.key for lk in links], type=typ).take(li))
            elif name == "transport":
                arrays.append(pa.array([lk.transport for lk in links], type=typ).take(li))
            elif name == "variant":
                arrays.append(pa.array([lk.variant for lk in links], type=typ).take(li))
            elif name == "pc_bits":
                arrays.append(pa.array([lk.pc_bits for lk in links], type=typ).take(li))
            elif name == "msg_name":
                arrays.append(_MSG_NAME_ARRAY.take(pa.array(R[R_MT, :n])).cast(typ))
            elif name == "optional_params":
                arrays.append(self._opt_lists(n, typ))
            elif name == "raw":
                arrays.append(_arrow.binaries(buf, R[R_RAW_START, :n], R[R_RAW_LEN, :n]))
            elif name in ("sip_call_id", "sip_frame", "tup_heading"):
                arrays.append(pa.nulls(n, typ))
            elif name == "protocol":  # the kernel decodes ISUP only (TUP and BICC go to Python)
                arrays.append(pa.array(["isup"], type=typ).take(pa.array(np.zeros(n, dtype=np.int32))))
            else:
                raise ValueError(f"isup_messages column {name} unknown to the SS7 fast path")
        self._st[S_ROWS] = 0
        self._st[S_POOL] = 0
        self._st[S_OPT] = 0
        return pa.Table.from_arrays(arrays, schema=schema)

    def _opt_lists(self, n, typ):
        R = self._R
        return _arrow.int_lists(self._opt, R[R_OPT_FIRST, :n], R[R_OPT_COUNT, :n], typ)

    def finish(self) -> None:
        """Add the fast path's per-link ISUP message counts to ``Link.messages``."""
        lm = self._link_msgs
        for idx in np.nonzero(lm)[0].tolist():
            self._link_list[idx].messages += int(lm[idx])
        lm[:] = 0
