"""The Unity package folder: its files are the listing's (`e2c.unity.package_files`), its manifest is valid, and the
C# receiver compiles with Debian's mono-mcs against minimal stand-ins of the Unity and extOSC types it uses."""
import json, re, shutil, subprocess
from pathlib import Path
import pytest
from e2c.unity import package_files, package_json, RECEIVER_CS, PACKAGE_NAME, ASMDEF

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / 'unity' / PACKAGE_NAME
MCS = shutil.which('mcs')

# The Unity and extOSC API the receiver relies on, with extOSC's signatures:
# OSCReceiver.Bind(string, UnityAction<OSCMessage>), OSCMessage.Values, OSCValue.FloatValue/StringValue/IntValue.
STUBS = r'''
using System.Collections.Generic;
namespace UnityEngine.Events {
    public delegate void UnityAction<T0>(T0 arg0);
    public class UnityEvent<T0> { public void Invoke(T0 arg0) { } public void AddListener(UnityAction<T0> call) { } }
}
namespace UnityEngine {
    public class Object { }
    public class Component : Object { }
    public class Behaviour : Component { public bool enabled; }
    public class MonoBehaviour : Behaviour { }
    public struct Color { public float r, g, b, a; public Color(float r, float g, float b, float a) { this.r = r; this.g = g; this.b = b; this.a = a; } }
    public struct Vector2 { public float x, y; public Vector2(float x, float y) { this.x = x; this.y = y; } }
    public struct Vector3 { public float x, y, z; public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; } }
    public class MaterialPropertyBlock { public void SetColor(int nameID, Color value) { } }
    public class Renderer : Component {
        public void GetPropertyBlock(MaterialPropertyBlock properties) { }
        public void SetPropertyBlock(MaterialPropertyBlock properties) { } }
    public class Light : Behaviour { public Color color; }
    public class Material : Object { public bool HasProperty(string name) { return true; } public void SetColor(string name, Color value) { } }
    public static class Shader { public static int PropertyToID(string name) { return name.GetHashCode(); } }
    public static class RenderSettings { public static Material skybox; }
}
namespace extOSC {
    public class OSCValue { public float FloatValue; public string StringValue; public int IntValue; }
    public class OSCMessage { public string Address; public List<OSCValue> Values = new List<OSCValue>(); }
    public interface IOSCBind { }
    public class OSCReceiver : UnityEngine.MonoBehaviour {
        public IOSCBind Bind(string address, UnityEngine.Events.UnityAction<OSCMessage> callback) { return null; } }
}
'''


def test_folder_matches_the_listing():
    on_disk = {p.relative_to(PKG).as_posix(): p.read_text() for p in PKG.rglob('*') if p.is_file() and not p.name.endswith('.meta')}
    assert on_disk == package_files(), 'unity/ is stale: run nbs/08d_unity.ipynb (e2c.unity.write_package())'


def test_manifest_and_asmdef_are_valid():
    m = json.loads((PKG / 'package.json').read_text())
    assert m == package_json()
    assert re.fullmatch(r'[a-z0-9]+(\.[a-z0-9-]+){2,}', m['name']) and len(m['name']) <= 214
    assert re.fullmatch(r'\d+\.\d+\.\d+(-[\w.]+)?', m['version']) and re.fullmatch(r'\d{4}\.\d', m['unity'])
    assert m['displayName'] and m['description']
    a = json.loads((PKG / 'Runtime' / f"{ASMDEF['name']}.asmdef").read_text())
    assert a['references'] == ['extOSC'] and a['name'] == ASMDEF['name']
    readme = (PKG / 'README.md').read_text()
    for addr in re.findall(r'"(/e2c/[a-z/]+)"', RECEIVER_CS): assert addr in readme, addr


def mcs(tmp_path, source):
    (tmp_path / 'Stubs.cs').write_text(STUBS); (tmp_path / 'Receiver.cs').write_text(source)
    return subprocess.run([MCS, '-target:library', '-warnaserror+', '-nowarn:414,649,169', f'-out:{tmp_path / "r.dll"}',
                           str(tmp_path / 'Stubs.cs'), str(tmp_path / 'Receiver.cs')], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(MCS is None, reason='needs mono-mcs (apt-get install mono-mcs)')
def test_receiver_compiles_against_unity_and_extosc_stand_ins(tmp_path):
    r = mcs(tmp_path, (PKG / 'Runtime' / 'E2CPaletteReceiver.cs').read_text())
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(MCS is None, reason='needs mono-mcs (apt-get install mono-mcs)')
@pytest.mark.parametrize('broken', [('m.Values[0].FloatValue', 'm.Values[0].FloatVal'), ('Receiver.Bind(', 'Receiver.Bindd('),
                                    ('Apply();', 'Apply()')])
def test_a_type_or_syntax_error_fails(tmp_path, broken):
    src = RECEIVER_CS.replace(*broken)
    assert src != RECEIVER_CS
    assert mcs(tmp_path, src).returncode != 0
