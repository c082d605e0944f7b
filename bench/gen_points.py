#!/usr/bin/env python3
"""Generate the ingest benchmark's input: POINTS points for DEVICES devices
(4 measurements each), time-major like a live fleet, as IoTFlow NDJSON
(4 points a line) and as the equivalent CSV rows for psql \\copy.
Usage: gen_points.py DEVICES POINTS OUT.ndjson OUT.csv [START_EPOCH]"""
import sys
import time

devices, points = int(sys.argv[1]), int(sys.argv[2])
nd_path, csv_path = sys.argv[3], sys.argv[4]
lines = points // 4
per_device = lines // devices
# Start far enough back that the last point is not in the future.
start = int(sys.argv[5]) if len(sys.argv) > 5 else int(time.time()) - per_device - 60
names = ("temperature", "humidity", "pressure", "battery")
with open(nd_path, "w") as nd, open(csv_path, "w") as csv:
    for step in range(per_device):
        ts = start + step
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
        for dev in range(1, devices + 1):
            v = (20.0 + (dev % 17) * 0.5 + step * 0.01, 40 + (dev + step) % 50,
                 1000.0 + (step % 30) * 0.25, 100 - (step % 100))
            nd.write('{"device_id":%d,"data":{"temperature":%.2f,"humidity":%d,'
                     '"pressure":%.2f,"battery":%d},"timestamp":"%s"}\n'
                     % (dev, v[0], v[1], v[2], v[3], iso))
            for name, val in zip(names, v):
                csv.write("%d,%s,%s,%s\n" % (dev, name, iso, val if isinstance(val, int) else "%.2f" % val))
