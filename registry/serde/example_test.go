package serde_test

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/meshwork/meshwork/registry/serde"
)

const reading = `{"type":"record","name":"TemperatureReading","namespace":"plant","fields":[
  {"name":"sensor_id","type":"string"},
  {"name":"celsius","type":"double"},
  {"name":"measured_at","type":{"type":"long","logicalType":"timestamp-millis"}},
  {"name":"humidity","type":["null","double"],"default":null}]}`

type Reading struct {
	SensorID string   `avro:"sensor_id"`
	Celsius  float64  `avro:"celsius"`
	Humidity *float64 `avro:"humidity"`
}

func Example() {
	ctx := context.Background()
	reg := srfake.New() // any Confluent-compatible registry
	defer reg.Close()
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		panic(err)
	}
	sd, err := serde.New(cl, serde.AutoRegister(true))
	if err != nil {
		panic(err)
	}

	// An adapter turns JSON from a device into Avro in the wire format.
	b, err := sd.EncodeJSON(ctx, "plant.sensor.temperature", reading,
		[]byte(`{"sensor_id":"line-3/t2","celsius":21.5,"measured_at":"2025-03-01T10:00:00Z"}`))
	if err != nil {
		panic(err)
	}
	fmt.Printf("header % x\n", b[:serde.HeaderSize])

	// A Go consumer decodes it into a struct; fields the struct lacks are
	// skipped.
	var r Reading
	if err := sd.Decode(ctx, b, &r); err != nil {
		panic(err)
	}
	fmt.Println(r.SensorID, r.Celsius, r.Humidity == nil)

	// A webhook gets JSON back.
	doc, id, err := sd.DecodeJSON(ctx, b)
	if err != nil {
		panic(err)
	}
	fmt.Println(id, string(doc))
	// Output:
	// header 00 00 00 00 01
	// line-3/t2 21.5 true
	// 1 {"sensor_id":"line-3/t2","celsius":21.5,"measured_at":1740823200000,"humidity":null}
}
