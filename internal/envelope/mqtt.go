package envelope

// Property is one MQTT 5 user property. MQTT allows a key to repeat; the
// envelope never writes a key twice and rejects repeats when reading.
type Property struct {
	Key   string
	Value string
}

// MQTT 5 carries CloudEvents attributes as user properties named exactly as
// the attributes (CloudEvents MQTT binding, binary mode), and the content type
// in the PUBLISH packet's own Content Type property, so it is returned apart.
func mqttName(attr string) string {
	if attr == attrContentType {
		return "content-type"
	}
	return attr
}

// FromMQTT reads the envelope from MQTT 5 user properties and the PUBLISH
// Content Type. Lower-case alphanumeric keys are CloudEvents extensions, as
// the binding defines; other user properties are ignored. Absent attributes
// are not an error; malformed ones are.
func FromMQTT(props []Property, contentType string) (Envelope, error) {
	d := newDecoder(mqttName)
	for _, p := range props {
		switch {
		case p.Key == attrContentType:
			continue // the binding puts it in the Content Type property
		case p.Key == attrSpecVersion, p.Key == attrID, p.Key == attrSource, p.Key == attrType,
			p.Key == attrTime, p.Key == attrSubject, p.Key == attrDataSchema, isMeshAttr(p.Key),
			validExtensionName(p.Key):
			d.set(p.Key, p.Value)
		}
	}
	if contentType != "" {
		d.set(attrContentType, contentType)
	}
	return d.finish()
}

// MQTTProperties returns the envelope as MQTT 5 user properties and the value
// for the PUBLISH Content Type property.
func (e *Envelope) MQTTProperties() (props []Property, contentType string) {
	ps := e.pairs()
	props = make([]Property, 0, len(ps))
	for _, p := range ps {
		if p.attr == attrContentType {
			contentType = p.value
			continue
		}
		props = append(props, Property{Key: p.attr, Value: p.value})
	}
	return props, contentType
}
