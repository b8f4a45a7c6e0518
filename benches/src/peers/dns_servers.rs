//! dnsmasq, unbound and knot as the DNS references (filled in by the dns area).
