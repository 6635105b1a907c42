#!/usr/bin/env python3
"""Checks every link of a built site: each relative href or src must name a
file of the site, and each #fragment an id on the target page. Links to
other sites are counted, not fetched (CI has no internet).

Usage: scripts/linkcheck.py SITE_DIR"""
import os
import sys
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("id", "name") and v:
                self.ids.add(v)
            if v and (k == "href" and tag in ("a", "link") or k == "src" and tag in ("img", "script")):
                self.links.append((v, self.getpos()[0]))


def main(site):
    site = os.path.normpath(site)
    pages = {}
    for d, _, files in os.walk(site):
        for f in files:
            if f.endswith(".html"):
                path = os.path.normpath(os.path.join(d, f))
                p = Page()
                with open(path, encoding="utf-8") as fh:
                    p.feed(fh.read())
                pages[path] = p
    if not pages:
        print(f"linkcheck: no HTML pages under {site}", file=sys.stderr)
        return 1
    broken, checked, external = [], 0, 0
    for path, p in sorted(pages.items()):
        for link, line in p.links:
            u = urlsplit(link)
            if u.scheme or link.startswith("//"):
                external += 1
                continue
            checked += 1
            if not u.path:
                target = path
            elif u.path.startswith("/"):  # from the site's root (404.html)
                target = os.path.normpath(os.path.join(site, unquote(u.path).lstrip("/")))
            else:
                target = os.path.normpath(os.path.join(os.path.dirname(path), unquote(u.path)))
            if os.path.isdir(target):
                target = os.path.join(target, "index.html")
            rel = os.path.relpath(path, site)
            if not os.path.isfile(target):
                broken.append(f"{rel}:{line}: {link}: no such file in the site")
                continue
            if u.fragment and target in pages and unquote(u.fragment) not in pages[target].ids:
                broken.append(f"{rel}:{line}: {link}: no id {u.fragment!r} on {os.path.relpath(target, site)}")
    for b in broken:
        print("broken link:", b, file=sys.stderr)
    print(f"linkcheck: {len(pages)} pages, {checked} internal links checked, {len(broken)} broken; {external} links to other sites not fetched")
    return 1 if broken else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
