// The device's GPS track over the chosen range (Leaflet, the global the vendor script
// defines), with a marker at the position the device had at the charts' cursor: the last
// fix at or before that time. Tiles only when the hub was given a tile URL
// (/ui/config.json); without one the map is a plain background and the track still shows,
// so the page needs nothing from the internet.

export class TrackMap {
  constructor(container, config) {
    this.map = L.map(container, { attributionControl: Boolean(config.tiles), zoomSnap: 0.25 });
    if (config.tiles) {
      L.tileLayer(config.tiles, { attribution: config.attribution ?? '', maxZoom: 19 }).addTo(this.map);
    } else {
      container.classList.add('dv-map-plain');
    }
    this.map.setView([0, 0], 1);
    this.line = null;
    this.marker = null;
    this.track = { t: [], lat: [], lon: [] };
  }

  /** Draw the track answer ({t, lat, lon}); returns the number of fixes drawn. */
  show(track) {
    this.track = track;
    this.line?.remove();
    this.marker?.remove();
    this.line = null;
    this.marker = null;
    const points = track.t.map((_, i) => [track.lat[i], track.lon[i]]);
    if (points.length === 0) return 0;
    this.line = L.polyline(points, { color: '#1f77b4', weight: 3 }).addTo(this.map);
    this.marker = L.circleMarker(points[points.length - 1], {
      radius: 7,
      color: '#d62728',
      fillOpacity: 0.9,
      className: 'dv-position',
    }).addTo(this.map);
    this.map.invalidateSize();
    if (points.length === 1) this.map.setView(points[0], 15);
    else this.map.fitBounds(this.line.getBounds(), { padding: [16, 16], maxZoom: 17 });
    return points.length;
  }

  /** Move the marker to the last fix at or before `ms` (the first fix before the track starts). */
  showTime(ms) {
    const { t, lat, lon } = this.track;
    if (!this.marker || t.length === 0) return null;
    let lo = 0;
    let hi = t.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (t[mid] <= ms) lo = mid;
      else hi = mid - 1;
    }
    this.marker.setLatLng([lat[lo], lon[lo]]);
    return { t: t[lo], lat: lat[lo], lon: lon[lo] };
  }

  resize() {
    this.map.invalidateSize();
  }
}
