use super::*;

#[test]
fn contrast_matches_wcag_reference_values() {
    // Black on white is the maximum, 21:1; #767676 is the lightest grey WCAG's own
    // understanding documents give as passing 4.5:1 on white (4.54:1).
    let black = Rgb([0, 0, 0]);
    assert!((black.contrast(PAGE_BACKGROUND) - 21.0).abs() < 1e-9);
    let grey = Rgb::parse("#767676").unwrap();
    assert!((grey.contrast(PAGE_BACKGROUND) - 4.54).abs() < 0.005);
    assert!((PAGE_BACKGROUND.contrast(PAGE_BACKGROUND) - 1.0).abs() < 1e-9);
}

#[test]
fn parse_and_display_round_trip() {
    let c = Rgb::parse("#A29436").unwrap();
    assert_eq!(c, Rgb([0xa2, 0x94, 0x36]));
    assert_eq!(c.to_string(), "#a29436");
    for bad in [
        "",
        "#",
        "a29436",
        "#a2943",
        "#a294366",
        "#g29436",
        "red",
        "#+1+2+3",
        "#ａ29436",
    ] {
        assert_eq!(Rgb::parse(bad), None, "{bad}");
    }
}

#[test]
fn check_names_the_rule() {
    let e = check("#ffee00").unwrap_err();
    assert!(
        e.contains("contrast 1.20:1") && e.contains("3:1") && e.contains("1.4.11"),
        "{e}"
    );
    let e = check("yellow").unwrap_err();
    assert!(e.contains("#rrggbb"), "{e}");
    assert_eq!(check("#1a4d8f"), Ok(Rgb([0x1a, 0x4d, 0x8f])));
}

#[test]
fn every_fallback_colour_passes_the_contrast_it_demands() {
    for c in FALLBACK {
        assert!(c.contrast(PAGE_BACKGROUND) >= MIN_CONTRAST, "{c}");
        assert_eq!(check(&c.to_string()), Ok(c));
    }
    assert_eq!(Rgb::fallback(0), FALLBACK[0]);
    assert_eq!(Rgb::fallback(FALLBACK.len()), FALLBACK[0]);
}

/// The fallback colours stay apart for readers with protanopia, deuteranopia and tritanopia:
/// each pair is simulated with Machado, Oliveira & Fernandes (2009) at severity 1.0 and compared
/// in CIELAB (ΔE*ab, D65). 8 is well above the 2.3 of a just-noticeable difference.
#[test]
fn fallback_colours_stay_distinguishable_with_colour_vision_deficiencies() {
    const MACHADO: [(&str, [[f64; 3]; 3]); 4] = [
        (
            "normal",
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        ),
        (
            "protanopia",
            [
                [0.152286, 1.052583, -0.204868],
                [0.114503, 0.786281, 0.099216],
                [-0.003882, -0.048116, 1.051998],
            ],
        ),
        (
            "deuteranopia",
            [
                [0.367322, 0.860646, -0.227968],
                [0.280085, 0.672501, 0.047413],
                [-0.011820, 0.042940, 0.968881],
            ],
        ),
        (
            "tritanopia",
            [
                [1.255528, -0.076749, -0.178779],
                [-0.078411, 0.930809, 0.147602],
                [0.004733, 0.691367, 0.303900],
            ],
        ),
    ];
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let lab = |c: Rgb, m: &[[f64; 3]; 3]| {
        let l = c.0.map(lin);
        let s: Vec<f64> = m
            .iter()
            .map(|row| (row[0] * l[0] + row[1] * l[1] + row[2] * l[2]).clamp(0.0, 1.0))
            .collect();
        let x = (0.4124 * s[0] + 0.3576 * s[1] + 0.1805 * s[2]) / 0.95047;
        let y = 0.2126 * s[0] + 0.7152 * s[1] + 0.0722 * s[2];
        let z = (0.0193 * s[0] + 0.1192 * s[1] + 0.9505 * s[2]) / 1.08883;
        let f = |t: f64| {
            if t > 0.008856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        };
        [
            116.0 * f(y) - 16.0,
            500.0 * (f(x) - f(y)),
            200.0 * (f(y) - f(z)),
        ]
    };
    for (vision, m) in &MACHADO {
        for (i, a) in FALLBACK.iter().enumerate() {
            for b in &FALLBACK[i + 1..] {
                let (p, q) = (lab(*a, m), lab(*b, m));
                let de =
                    ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
                assert!(de >= 8.0, "{a} and {b} under {vision}: ΔE {de:.1}");
            }
        }
    }
}
