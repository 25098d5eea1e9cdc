"""Loads each HTML page in headless Chromium over the DevTools protocol; exits 1 on any console
error, uncaught exception, failed load or request for anything but the page itself; saves a
screenshot of the top of the page, of the whole page and of each section (OUT_DIR/NAME.png,
NAME.full.png, NAME.SECTION.png)."""

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets

PAGE_TIMEOUT_S = 60


def start_chromium(profile):
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        sys.exit("chromium not found")
    process = subprocess.Popen(
        [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 30
    while time.time() < deadline:
        if os.path.exists(port_file):
            lines = open(port_file).read().split()
            if lines:
                return process, int(lines[0])
        time.sleep(0.1)
    process.kill()
    sys.exit("chromium did not open its DevTools port within 30 s")


class Session:
    def __init__(self, socket):
        self.socket = socket
        self.next_id = 0
        self.events = []

    async def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        await self.socket.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self.socket.recv())
            if message.get("id") == my_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    async def wait_for(self, method, timeout):
        deadline = time.time() + timeout
        while True:
            for event in self.events:
                if event["method"] == method:
                    return event
            remaining = deadline - time.time()
            if remaining <= 0:
                raise TimeoutError(method)
            message = json.loads(await asyncio.wait_for(self.socket.recv(), remaining))
            if "method" in message:
                self.events.append(message)


async def check_page(port, path, out_dir):
    url = "file://" + os.path.abspath(path)
    # A fresh tab per page (newer Chromium wants PUT here).
    request = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        target = json.load(response)
    problems = []
    async with websockets.connect(target["webSocketDebuggerUrl"], max_size=2**30) as socket:
        s = Session(socket)
        for domain in ("Page", "Runtime", "Log", "Network"):
            await s.call(f"{domain}.enable")
        await s.call("Emulation.setDeviceMetricsOverride", width=1500, height=1000,
                     deviceScaleFactor=1, mobile=False)
        await s.call("Page.navigate", url=url)
        await s.wait_for("Page.loadEventFired", PAGE_TIMEOUT_S)
        # Let late scripts and requests show up.
        await s.call("Runtime.evaluate", expression="new Promise(r => setTimeout(r, 500))",
                     awaitPromise=True)
        for event in s.events:
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent":
                requested = params["request"]["url"]
                if requested != url and not requested.startswith("data:"):
                    problems.append(f"network request: {requested}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                problems.append(f"console {params['type']}: {text}")
            elif method == "Runtime.exceptionThrown":
                problems.append(f"exception: {params['exceptionDetails'].get('text')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
                problems.append(f"log {params['entry']['level']}: {params['entry'].get('text')}")
            elif method == "Network.loadingFailed":
                problems.append(f"load failed: {params.get('errorText')}")
        sections = await s.call("Runtime.evaluate", returnByValue=True, expression=
                                "Array.from(document.querySelectorAll('section')).map(s => s.id)")
        name = os.path.splitext(os.path.basename(path))[0]
        shot = await s.call("Page.captureScreenshot", format="png")
        with open(os.path.join(out_dir, name + ".png"), "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        shot = await s.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        with open(os.path.join(out_dir, name + ".full.png"), "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        # One picture per section too (at most 1400 px tall), easier to read than the whole page.
        for section in sections["result"].get("value") or []:
            box = await s.call("Runtime.evaluate", returnByValue=True, expression=
                               f"(r => [r.left + scrollX, r.top + scrollY, r.width, r.height])"
                               f"(document.getElementById('{section}').getBoundingClientRect())")
            x, y, w, h = box["result"]["value"]
            shot = await s.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                clip={"x": x, "y": y, "width": w, "height": min(h, 1400), "scale": 1})
            with open(os.path.join(out_dir, f"{name}.{section}.png"), "wb") as f:
                f.write(base64.b64decode(shot["data"]))
    print(f"{path}: sections {sections['result'].get('value')}; "
          f"{'OK' if not problems else str(len(problems)) + ' problem(s)'}")
    return problems


async def main(out_dir, pages):
    profile = tempfile.mkdtemp(prefix="check-report-")
    process, port = start_chromium(profile)
    failed = False
    try:
        for page in pages:
            for problem in await check_page(port, page, out_dir):
                print(f"  {problem}")
                failed = True
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
