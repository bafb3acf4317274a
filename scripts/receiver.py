#!/usr/bin/env python3
"""A local webhook receiver for trying vigie: prints every alert it receives.

    python3 scripts/receiver.py [PORT]     (default port 8787)
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            alert = json.loads(body)
            article = alert.get("article", {})
            print(f"\n[{alert.get('rule')}] {article.get('title')}  ({alert.get('source')})")
            print(f"  {article.get('url')}")
            for m in alert.get("matches", []):
                print(f"  \"{m['term']}\" in {m['field']}: {m['snippet']}")
            print(f"  Idempotency-Key: {self.headers.get('Idempotency-Key')}")
        except (ValueError, AttributeError):
            print(body.decode("utf-8", "replace"))
        sys.stdout.flush()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8787
    print(f"listening on http://127.0.0.1:{port}/alerts")
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
