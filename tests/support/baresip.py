"""An Opus phone for the end-to-end tests: baresip (Debian's baresip-core, with its opus module),
since the pjsua2 wheel has no Opus. It registers as an operator, offers only opus/48000/2,
answers at once, plays a WAV file as its microphone (aufile) and keeps what it heard (sndfile's
decoded dump, written when the call ends)."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

from support.calls import wait_until

MODULES = Path("/usr/lib/baresip/modules")


def available() -> bool:
    return shutil.which("baresip") is not None and (MODULES / "opus.so").is_file()


class OpusPhone:
    def __init__(self, workdir: Path, ext: str, password: str, mic: Path, pbx: str = "127.0.0.1:5060",
                 local_port: int = 5098) -> None:
        self.dir = workdir
        self.dumps = workdir / "heard"
        self.dumps.mkdir(parents=True, exist_ok=True)
        source = workdir / "mic-48k.wav"  # aufile takes the codec's own rate and channels
        subprocess.run(["sox", str(mic), "-r", "48000", "-c", "2", str(source)], check=True, capture_output=True)
        # the tests' network namespace has only lo: baresip finds no address of its own without net_interface
        (workdir / "config").write_text(f"""poll_method epoll
net_interface 127.0.0.1
sip_listen 127.0.0.1:{local_port}
audio_player aubridge,nil
audio_alert aubridge,nil
audio_source aufile,{source}
module_path {MODULES}
module g711.so
module opus.so
module aufile.so
module aubridge.so
module sndfile.so
module_app account.so
module_app menu.so
snd_path {self.dumps}
""")
        (workdir / "accounts").write_text(
            f"<sip:{ext}@{pbx}>;auth_pass={password};answermode=auto;audio_codecs=opus/48000/2;regint=300\n")
        (workdir / "contacts").write_text("")
        self.log = workdir / "baresip.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(["baresip", "-f", str(workdir)], stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        wait_until(lambda: "200 OK" in self.log.read_text(errors="replace") or self.proc.poll() is not None, 15,
                   f"the Opus phone {ext} registered")
        if self.proc.poll() is not None:
            raise RuntimeError("baresip ended: " + self.log.read_text(errors="replace")[-2000:])

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def heard(self) -> list[Path]:
        """What the phone heard on each call (decoded, as sndfile dumped it)."""
        return sorted(self.dumps.glob("*dec*.wav"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
