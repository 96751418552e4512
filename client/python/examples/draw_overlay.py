"""Classifies an image with gcnserve and draws what the model looked at with
OpenCV: the interest points (bigger = higher attention score, colour =
feature level), each point's strongest edges (more opaque = larger weight)
and the top classes.

    PYTHONPATH=client/python:build/client/python /usr/bin/python3 \
        client/python/examples/draw_overlay.py --target 127.0.0.1:50051 \
        model/samples/00000_9_ankle_boot.png overlay.png

(gcnctl classify --overlay DIR draws a fuller picture, with a heat map of
the adjacency; this is the same idea in a page of Python.)
"""
import argparse
import sys

import cv2
import numpy as np

from gcnserve_client import ClassifierClient, ClassifyError

# BGR, as gcnctl draws them: level 0 blue, 1 crimson, 2 green, 3 magenta...
LEVEL_COLORS = [(235, 100, 20), (60, 20, 220), (50, 175, 40), (200, 40, 200),
                (190, 190, 0), (30, 200, 230)]
EDGE_COLOR = (0, 150, 255)  # orange
MIN_SIDE = 448
BAND = 88  # text band under the picture, pixels


def scale_factor(width: int, height: int) -> int:
    """Whole-number enlargement that brings the longer side to MIN_SIDE."""
    longer = max(width, height)
    return max(1, -(-MIN_SIDE // longer))


def draw_overlay(image: np.ndarray, response, edges_per_node: int = 3) -> np.ndarray:
    """The picture for `response` (a ClassifyResponse) over `image` (BGR)."""
    height, width = image.shape[:2]
    factor = scale_factor(width, height)
    big = cv2.resize(image, (width * factor, height * factor),
                     interpolation=cv2.INTER_NEAREST)
    sx = big.shape[1] / (response.image_width or width)
    sy = big.shape[0] / (response.image_height or height)
    points = [(p.x * sx, p.y * sy, p.score, p.level) for p in response.points]

    k = response.adjacency.size
    if k and k == len(points) and edges_per_node > 0:
        weights = np.array(response.adjacency.weights, dtype=np.float32).reshape(k, k)
        off = weights.copy()
        np.fill_diagonal(off, 0)
        edges = {}
        for i in range(k):
            for j in np.argsort(-off[i])[:edges_per_node]:
                if off[i, j] > 0:
                    key = (min(i, int(j)), max(i, int(j)))
                    edges[key] = max(edges.get(key, 0.0), float(off[i, j]))
        # Opacity spans the drawn edges' weights: weakest faint, strongest solid.
        weakest, strongest = min(edges.values(), default=0.0), max(edges.values(), default=1.0)
        for (i, j), w in sorted(edges.items(), key=lambda e: e[1]):
            layer = big.copy()
            a = (int(round(points[i][0])), int(round(points[i][1])))
            b = (int(round(points[j][0])), int(round(points[j][1])))
            cv2.line(layer, a, b, EDGE_COLOR, 2, cv2.LINE_AA)
            alpha = 0.12 + 0.83 * ((w - weakest) / (strongest - weakest) if strongest > weakest else 1.0)
            big = cv2.addWeighted(layer, alpha, big, 1 - alpha, 0)

    if points:
        scores = [p[2] for p in points]
        low, high = min(scores), max(scores)
        largest = max(5.0, min(big.shape[:2]) / 36)
        smallest = max(2.0, largest / 3)
        for x, y, score, level in sorted(points, key=lambda p: p[2]):
            t = (score - low) / (high - low) if high > low else 0.5
            radius = int(round(smallest + t * (largest - smallest)))
            center = (int(round(x)), int(round(y)))
            cv2.circle(big, center, radius + 1, (0, 0, 0), -1, cv2.LINE_AA)
            cv2.circle(big, center, radius, LEVEL_COLORS[level % len(LEVEL_COLORS)],
                       -1, cv2.LINE_AA)

    canvas = np.full((big.shape[0] + BAND, big.shape[1], 3), 255, np.uint8)
    canvas[:big.shape[0]] = big
    classes = "  ".join(f"{c.label} {c.probability:.1%}" for c in response.classes[:3])
    cv2.putText(canvas, classes, (8, big.shape[0] + 25), cv2.FONT_HERSHEY_SIMPLEX,
                0.5, (40, 40, 40), 1, cv2.LINE_AA)
    for row, text in enumerate([f"{len(points)} points: bigger = more attention, colour = level",
                                f"orange: each point's {edges_per_node} strongest edges"]):
        cv2.putText(canvas, text, (8, big.shape[0] + 50 + 22 * row),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (90, 90, 90), 1, cv2.LINE_AA)
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image")
    parser.add_argument("output", help="PNG file to write")
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--model", default="")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()

    image = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if image is None:
        sys.exit(f"cannot read {args.image}")
    with ClassifierClient(args.target, timeout=args.timeout) as client:
        try:
            response = client.classify_file(args.image, model=args.model,
                                            graph="full", top_k=3)
        except ClassifyError as error:
            sys.exit(f"{args.image}: {error}")
    if not cv2.imwrite(args.output, draw_overlay(image, response)):
        sys.exit(f"cannot write {args.output}")
    best = response.classes[0]
    print(f"{args.image}: {best.label} {best.probability:.3f} -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
