/** The service registry layout of PROTOCOL.md 10 (Kratos' etcd registry). */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { decodeServiceInstance, encodeServiceInstance, ErrorCode, grpcAddress, instanceOf, isJanusError, registryKey, sameInstances } from '../src/index.js';

const bad = (fn: () => unknown, why: RegExp) =>
  assert.throws(fn, (e: unknown) => isJanusError(e, ErrorCode.RegistryValueInvalid) && e.details.key === 'k' && why.test(e.message), String(why));

describe('registry layout', () => {
  it('keys are {prefix}/{name}/{id}', () => {
    assert.equal(registryKey('/microservices', 'roma.player.service', 'p-1'), '/microservices/roma.player.service/p-1');
  });

  it('encodes metadata values as strings (Kratos map[string]string) and decodes what it encodes', () => {
    const json = encodeServiceInstance({ id: 'a', name: 'n', version: 'v', metadata: { color: 'blue', weight: 50 }, endpoints: ['grpc://h:1'] });
    assert.equal(json, '{"id":"a","name":"n","version":"v","metadata":{"color":"blue","weight":"50"},"endpoints":["grpc://h:1"]}');
    assert.deepEqual(decodeServiceInstance('k', json), { id: 'a', name: 'n', version: 'v', metadata: { color: 'blue', weight: '50' }, endpoints: ['grpc://h:1'] });
  });

  it('reads a Kratos value: missing version and metadata, a number weight, an http endpoint first, a query on the grpc one', () => {
    const s = decodeServiceInstance('k', '{"id":"a","name":"n","metadata":{"weight":7},"endpoints":["http://10.0.0.1:8000","grpc://10.0.0.1:9000?isSecure=false"]}');
    assert.deepEqual(instanceOf('k', s), { id: 'a', address: '10.0.0.1:9000', color: '', weight: 7 });
    assert.deepEqual(instanceOf('k', decodeServiceInstance('k', '{"id":"b","name":"n","endpoints":["grpc://[::1]:9000"]}')), { id: 'b', address: '[::1]:9000', color: '', weight: 100 });
  });

  it('refuses values that are not usable ServiceInstances, naming the key', () => {
    bad(() => decodeServiceInstance('k', 'nope'), /not JSON/);
    bad(() => decodeServiceInstance('k', '[1]'), /not a JSON object/);
    bad(() => decodeServiceInstance('k', '{"name":"n","endpoints":[]}'), /"id"/);
    bad(() => decodeServiceInstance('k', '{"id":"a","endpoints":[]}'), /"name"/);
    bad(() => decodeServiceInstance('k', '{"id":"a","name":"n","endpoints":"grpc://h:1"}'), /"endpoints"/);
    bad(() => decodeServiceInstance('k', '{"id":"a","name":"n","endpoints":[],"metadata":{"color":1}}'), /metadata.color/);
    bad(() => instanceOf('k', decodeServiceInstance('k', '{"id":"a","name":"n","endpoints":["http://h:1","grpc://h"]}')), /no grpc/);
    for (const w of ['0', '-1', '1.5', 'ten']) {
      bad(() => instanceOf('k', decodeServiceInstance('k', `{"id":"a","name":"n","metadata":{"weight":"${w}"},"endpoints":["grpc://h:1"]}`)), /weight/);
    }
  });

  it('grpcAddress takes the first grpc://host:port', () => {
    assert.equal(grpcAddress(['grpc://a:1', 'grpc://b:2']), 'a:1');
    assert.equal(grpcAddress(['grpcs://a:1', 'grpc://b']), null);
  });

  it('sameInstances compares every field in order', () => {
    const a = { id: 'a', address: 'h:1', color: '', weight: 100 };
    assert.equal(sameInstances([a], [{ ...a }]), true);
    assert.equal(sameInstances([a], [{ ...a, weight: 99 }]), false);
    assert.equal(sameInstances([a], []), false);
  });
});
