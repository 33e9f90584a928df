// E2CPaletteReceiver.cs: applies e2c palettes (e2c.osc address space) to a scene. Needs extOSC.
using System;
using UnityEngine;
using UnityEngine.Events;
using extOSC;

public class E2CPaletteReceiver : MonoBehaviour
{
    [Serializable] public class PaletteEvent : UnityEvent<Color[]> { }

    public OSCReceiver Receiver;                 // an OSCReceiver with Local Port 9000
    public Renderer Target;                      // its material gets _Color0.._Color4
    public Light KeyLight;                       // takes the lightest colour
    public bool TintSkybox = true;               // _Tint of the skybox material: the darkest colour
    public PaletteEvent OnPalette;               // for anything else

    // The latest complete palette, darkest → lightest, and what came with it.
    public Color[] Colors = new Color[5];
    public string[] Hex = new string[5];
    public Vector3[] Oklab = new Vector3[5];
    public string Label = "";
    public Vector2 ValenceArousal = new Vector2(float.NaN, float.NaN);
    public float Progress = 1f;
    public int Frame = -1;

    // Messages of the bundle being received; committed on /e2c/frame.
    readonly Color[] _colors = new Color[5];
    readonly string[] _hex = new string[5];
    readonly Vector3[] _oklab = new Vector3[5];
    string _label = "";
    Vector2 _va;
    float _progress = 1f;
    bool _haveColors;

    static readonly int[] ColorIds = {
        Shader.PropertyToID("_Color0"), Shader.PropertyToID("_Color1"), Shader.PropertyToID("_Color2"),
        Shader.PropertyToID("_Color3"), Shader.PropertyToID("_Color4") };
    MaterialPropertyBlock _block;

    void Start()
    {
        _block = new MaterialPropertyBlock();
        Receiver.Bind("/e2c/palette/srgb", OnSrgb);
        Receiver.Bind("/e2c/palette/hex", m => { for (int i = 0; i < 5 && i < m.Values.Count; i++) _hex[i] = m.Values[i].StringValue; });
        Receiver.Bind("/e2c/palette/oklab", OnOklab);
        Receiver.Bind("/e2c/emotion/label", m => _label = m.Values.Count > 0 ? m.Values[0].StringValue : "");
        Receiver.Bind("/e2c/emotion/va", m => { if (m.Values.Count == 2) _va = new Vector2(m.Values[0].FloatValue, m.Values[1].FloatValue); });
        Receiver.Bind("/e2c/transition/progress", m => { if (m.Values.Count == 1) _progress = m.Values[0].FloatValue; });
        Receiver.Bind("/e2c/frame", OnFrame);
    }

    void OnSrgb(OSCMessage m)
    {
        _haveColors = m.Values.Count == 15;
        if (!_haveColors) return;
        for (int i = 0; i < 5; i++)   // gamma-encoded sRGB: what Color expects; Unity linearises it in Linear colour space
            _colors[i] = new Color(m.Values[3 * i].FloatValue, m.Values[3 * i + 1].FloatValue, m.Values[3 * i + 2].FloatValue, 1f);
    }

    void OnOklab(OSCMessage m)
    {
        if (m.Values.Count != 15) return;
        for (int i = 0; i < 5; i++)
            _oklab[i] = new Vector3(m.Values[3 * i].FloatValue, m.Values[3 * i + 1].FloatValue, m.Values[3 * i + 2].FloatValue);
    }

    void OnFrame(OSCMessage m)   // the last message of every bundle: apply the whole frame at once
    {
        if (!_haveColors) return;
        _haveColors = false;
        Array.Copy(_colors, Colors, 5); Array.Copy(_hex, Hex, 5); Array.Copy(_oklab, Oklab, 5);
        Label = _label; ValenceArousal = _va; Progress = _progress;
        Frame = m.Values.Count > 0 ? m.Values[0].IntValue : Frame + 1;
        Apply();
    }

    void Apply()
    {
        if (Target != null)
        {
            Target.GetPropertyBlock(_block);
            for (int i = 0; i < 5; i++) _block.SetColor(ColorIds[i], Colors[i]);
            Target.SetPropertyBlock(_block);
        }
        if (KeyLight != null) KeyLight.color = Colors[4];
        if (TintSkybox && RenderSettings.skybox != null && RenderSettings.skybox.HasProperty("_Tint"))
            RenderSettings.skybox.SetColor("_Tint", Colors[0]);
        OnPalette?.Invoke(Colors);
    }
}
