"""Rate files laid out exactly as the ECB publishes them (values invented, layout real)."""

from __future__ import annotations

import io
import zipfile

DAILY_CSV = (
    "Date, USD, JPY, BGN, CZK, DKK, GBP, HUF, PLN, RON, SEK, CHF, ISK, NOK, TRY, AUD, BRL, "
    "CAD, CNY, HKD, IDR, ILS, INR, KRW, MXN, MYR, NZD, PHP, SGD, THB, ZAR, \n"
    "25 November 2026, 1.0450, 160.12, 1.9558, 25.123, 7.4601, 0.83455, 401.23, 4.2815, "
    "4.9770, 11.3210, 0.9402, 148.70, 11.6785, 36.0210, 1.6105, 6.0312, 1.4680, 7.5620, "
    "8.1330, 16890.12, 3.9120, 88.1234, 1501.45, 20.9870, 4.6650, 1.7890, 60.123, 1.4050, "
    "37.456, 19.2345, \n"
)

HISTORY_CSV = (
    "Date,USD,JPY,CYP,GBP,BRL,\n"
    "2026-11-25,1.0450,160.12,N/A,0.83455,6.0312,\n"
    "2026-11-24,1.0400,159.00,N/A,0.83000,6.0000,\n"
    "2026-11-20,1.0300,158.00,N/A,0.82000,5.9000,\n"
    "2026-11-10,1.0100,150.00,N/A,0.81000,5.8000,\n"
)

DAILY_XML = """<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"
    xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
  <Cube>
    <Cube time='2026-11-25'>
      <Cube currency='USD' rate='1.0450'/>
      <Cube currency='JPY' rate='160.12'/>
      <Cube currency='GBP' rate='0.83455'/>
    </Cube>
  </Cube>
</gesmes:Envelope>
"""


def zipped(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, text)
    return buffer.getvalue()
