var ce,x,qe,Mt,R,De,Oe,Re,ye,oe,Y,Ue,ke,ve,be,Nt,ae={},ie=[],Pt=/acit|ex(?:s|g|n|p|$)|rph|grid|ows|mnc|ntw|ine[ch]|zoo|^ord|itera/i,de=Array.isArray;function q(t,e){for(var n in e)t[n]=e[n];return t}function xe(t){t&&t.parentNode&&t.parentNode.removeChild(t)}function we(t,e,n){var o,r,s,l={};for(s in e)s=="key"?o=e[s]:s=="ref"?r=e[s]:l[s]=e[s];if(arguments.length>2&&(l.children=arguments.length>3?ce.call(arguments,2):n),typeof t=="function"&&t.defaultProps!=null)for(s in t.defaultProps)l[s]===void 0&&(l[s]=t.defaultProps[s]);return se(t,l,o,r,null)}function se(t,e,n,o,r){var s={type:t,props:e,key:n,ref:o,__k:null,__:null,__b:0,__e:null,__c:null,constructor:void 0,__v:r??++qe,__i:-1,__u:0};return r==null&&x.vnode!=null&&x.vnode(s),s}function ue(t){return t.children}function re(t,e){this.props=t,this.context=e}function W(t,e){if(e==null)return t.__?W(t.__,t.__i+1):null;for(var n;e<t.__k.length;e++)if((n=t.__k[e])!=null&&n.__e!=null)return n.__e;return typeof t.type=="function"?W(t):null}function Dt(t){if(t.__P&&t.__d){var e=t.__v,n=e.__e,o=[],r=[],s=q({},e);s.__v=e.__v+1,x.vnode&&x.vnode(s),Se(t.__P,s,e,t.__n,t.__P.namespaceURI,32&e.__u?[n]:null,o,n??W(e),!!(32&e.__u),r),s.__v=e.__v,s.__.__k[s.__i]=s,Fe(o,s,r),e.__e=e.__=null,s.__e!=n&&He(s)}}function He(t){if((t=t.__)!=null&&t.__c!=null)return t.__e=t.__c.base=null,t.__k.some(function(e){if(e!=null&&e.__e!=null)return t.__e=t.__c.base=e.__e}),He(t)}function Ie(t){(!t.__d&&(t.__d=!0)&&R.push(t)&&!le.__r++||De!=x.debounceRendering)&&((De=x.debounceRendering)||Oe)(le)}function le(){try{for(var t,e=1;R.length;)R.length>e&&R.sort(Re),t=R.shift(),e=R.length,Dt(t)}finally{R.length=le.__r=0}}function Be(t,e,n,o,r,s,l,c,u,a,p){var h,i,_,$,v,m,b=o&&o.__k||ie,y=e.length;for(u=It(n,e,b,u,y),h=0;h<y;h++)(_=n.__k[h])!=null&&(i=_.__i!=-1&&b[_.__i]||ae,_.__i=h,m=Se(t,_,i,r,s,l,c,u,a,p),$=_.__e,_.ref&&i.ref!=_.ref&&(i.ref&&Ce(i.ref,null,_),p.push(_.ref,_.__c||$,_)),v==null&&$!=null&&(v=$),4&_.__u?(u=We(_,u,t),i.__e&&(i.__e=null)):typeof _.type=="function"&&m!==void 0?u=m:$&&(u=$.nextSibling),_.__u&=-7);return n.__e=v,u}function It(t,e,n,o,r){var s,l,c,u,a,p=n.length,h=p,i=0;for(t.__k=new Array(r),s=0;s<r;s++)(l=e[s])!=null&&typeof l!="boolean"&&typeof l!="function"?(typeof l=="string"||typeof l=="number"||typeof l=="bigint"||l.constructor==String?l=t.__k[s]=se(null,l,null,null,null):de(l)?l=t.__k[s]=se(ue,{children:l},null,null,null):l.constructor===void 0&&l.__b>0?l=t.__k[s]=se(l.type,l.props,l.key,l.ref?l.ref:null,l.__v):t.__k[s]=l,u=s+i,l.__=t,l.__b=t.__b+1,c=null,(a=l.__i=Kt(l,n,u,h))!=-1&&(h--,(c=n[a])&&(c.__u|=2)),c==null||c.__v==null?(a==-1&&(r>p?i--:r<p&&i++),typeof l.type!="function"&&(l.__u|=4)):a!=u&&(a==u-1?i--:a==u+1?i++:(a>u?i--:i++,l.__u|=4))):t.__k[s]=null;if(h)for(s=0;s<p;s++)(c=n[s])!=null&&(2&c.__u)==0&&(c.__e==o&&(o=W(c)),ze(c,c));return o}function We(t,e,n){var o,r;if(typeof t.type=="function"){for(o=t.__k,r=0;o&&r<o.length;r++)o[r]&&(o[r].__=t,e=We(o[r],e,n));return e}t.__e!=e&&(e&&t.type&&!e.parentNode&&(e=W(t)),e=n.insertBefore(t.__e,e||null));do e=e&&e.nextSibling;while(e!=null&&e.nodeType==8);return e}function Kt(t,e,n,o){var r,s,l,c=t.key,u=t.type,a=e[n],p=a!=null&&(2&a.__u)==0;if(a===null&&c==null||p&&c==a.key&&u==a.type)return n;if(o>(p?1:0)){for(r=n-1,s=n+1;r>=0||s<e.length;)if((a=e[l=r>=0?r--:s++])!=null&&(2&a.__u)==0&&c==a.key&&u==a.type)return l}return-1}function Ke(t,e,n){e[0]=="-"?t.setProperty(e,n??""):t[e]=n==null?"":typeof n!="number"||Pt.test(e)?n:n+"px"}function ne(t,e,n,o,r){var s,l;e:if(e=="style")if(typeof n=="string")t.style.cssText=n;else{if(typeof o=="string"&&(t.style.cssText=o=""),o)for(e in o)n&&e in n||Ke(t.style,e,"");if(n)for(e in n)o&&n[e]==o[e]||Ke(t.style,e,n[e])}else if(e[0]=="o"&&e[1]=="n")s=e!=(e=e.replace(Ue,"$1")),l=e.toLowerCase(),e=l in t||e=="onFocusOut"||e=="onFocusIn"?l.slice(2):e.slice(2),t.l||(t.l={}),t.l[e+s]=n,n?o?n[Y]=o[Y]:(n[Y]=ke,t.addEventListener(e,s?be:ve,s)):t.removeEventListener(e,s?be:ve,s);else{if(r=="http://www.w3.org/2000/svg")e=e.replace(/xlink(H|:h)/,"h").replace(/sName$/,"s");else if(e!="width"&&e!="height"&&e!="href"&&e!="list"&&e!="form"&&e!="tabIndex"&&e!="download"&&e!="rowSpan"&&e!="colSpan"&&e!="role"&&e!="popover"&&e in t)try{t[e]=n??"";break e}catch{}typeof n=="function"||(n==null||n===!1&&e[4]!="-"?t.removeAttribute(e):t.setAttribute(e,e=="popover"&&n==1?"":n))}}function Ae(t){return function(e){if(this.l){var n=this.l[e.type+t];if(e[oe]==null)e[oe]=ke++;else if(e[oe]<n[Y])return;return n(x.event?x.event(e):e)}}}function Se(t,e,n,o,r,s,l,c,u,a){var p,h,i,_,$,v,m,b,y,L,S,f,P,ge,k,F,A=e.type;if(e.constructor!==void 0)return null;128&n.__u&&(u=!!(32&n.__u),s=[c=e.__e=n.__e]),(p=x.__b)&&p(e);e:if(typeof A=="function"){h=l.length;try{if(y=e.props,L=A.prototype&&A.prototype.render,S=(p=A.contextType)&&o[p.__c],f=p?S?S.props.value:p.__:o,n.__c?b=(i=e.__c=n.__c).__=i.__E:(L?e.__c=i=new A(y,f):(e.__c=i=new re(y,f),i.constructor=A,i.render=qt),S&&S.sub(i),i.state||(i.state={}),i.__n=o,_=i.__d=!0,i.__h=[],i._sb=[]),L&&i.__s==null&&(i.__s=i.state),L&&A.getDerivedStateFromProps!=null&&(i.__s==i.state&&(i.__s=q({},i.__s)),q(i.__s,A.getDerivedStateFromProps(y,i.__s))),$=i.props,v=i.state,i.__v=e,_)L&&A.getDerivedStateFromProps==null&&i.componentWillMount!=null&&i.componentWillMount(),L&&i.componentDidMount!=null&&i.__h.push(i.componentDidMount);else{if(L&&A.getDerivedStateFromProps==null&&y!==$&&i.componentWillReceiveProps!=null&&i.componentWillReceiveProps(y,f),e.__v==n.__v||!i.__e&&i.shouldComponentUpdate!=null&&i.shouldComponentUpdate(y,i.__s,f)===!1){e.__v!=n.__v&&(i.props=y,i.state=i.__s,i.__d=!1),e.__e=n.__e,e.__k=n.__k,e.__k.some(function(V){V&&(V.__=e)}),ie.push.apply(i.__h,i._sb),i._sb=[],i.__h.length&&l.push(i),c=W(n);break e}i.componentWillUpdate!=null&&i.componentWillUpdate(y,i.__s,f),L&&i.componentDidUpdate!=null&&i.__h.push(function(){i.componentDidUpdate($,v,m)})}if(i.context=f,i.props=y,i.__P=t,i.__e=!1,P=x.__r,ge=0,L)i.state=i.__s,i.__d=!1,P&&P(e),p=i.render(i.props,i.state,i.context),ie.push.apply(i.__h,i._sb),i._sb=[];else do i.__d=!1,P&&P(e),p=i.render(i.props,i.state,i.context),i.state=i.__s;while(i.__d&&++ge<25);i.state=i.__s,i.getChildContext!=null&&(o=q(q({},o),i.getChildContext())),L&&!_&&i.getSnapshotBeforeUpdate!=null&&(m=i.getSnapshotBeforeUpdate($,v)),k=p!=null&&p.type===ue&&p.key==null?Ve(p.props.children):p,c=Be(t,de(k)?k:[k],e,n,o,r,s,l,c,u,a),i.base=e.__e,e.__u&=-161,i.__h.length&&l.push(i),b&&(i.__E=i.__=null)}catch(V){if(l.length=h,e.__v=null,u||s!=null){if(V.then){for(e.__u|=u?160:128;c&&c.nodeType==8&&c.nextSibling;)c=c.nextSibling;s!=null&&(s[s.indexOf(c)]=null),e.__e=c}else if(s!=null)for(F=s.length;F--;)xe(s[F])}else e.__e=n.__e;e.__k==null&&(e.__k=n.__k||[]),V.then||Je(e),x.__e(V,e,n)}}else s==null&&e.__v==n.__v?(e.__k=n.__k,e.__e=n.__e):c=e.__e=At(n.__e,e,n,o,r,s,l,u,a);return(p=x.diffed)&&p(e),128&e.__u?void 0:c}function Je(t){t&&(t.__c&&(t.__c.__e=!0),t.__k&&t.__k.some(Je))}function Fe(t,e,n){for(var o=0;o<n.length;o++)Ce(n[o],n[++o],n[++o]);x.__c&&x.__c(e,t),t.some(function(r){try{t=r.__h,r.__h=[],t.some(function(s){s.call(r)})}catch(s){x.__e(s,r.__v)}})}function Ve(t){return typeof t!="object"||t==null||t.__b>0?t:de(t)?t.map(Ve):t.constructor!==void 0?null:q({},t)}function At(t,e,n,o,r,s,l,c,u){var a,p,h,i,_,$,v,m=n.props||ae,b=e.props,y=e.type;if(y=="svg"?r="http://www.w3.org/2000/svg":y=="math"?r="http://www.w3.org/1998/Math/MathML":r||(r="http://www.w3.org/1999/xhtml"),s!=null){for(a=0;a<s.length;a++)if((_=s[a])&&"setAttribute"in _==!!y&&(y?_.localName==y:_.nodeType==3)){t=_,s[a]=null;break}}if(t==null){if(y==null)return document.createTextNode(b);t=document.createElementNS(r,y,b.is&&b),c&&(x.__m&&x.__m(e,s),c=!1),s=null}if(y==null)m===b||c&&t.data==b||(t.data=b);else{if(s=y=="textarea"&&b.defaultValue!=null?null:s&&ce.call(t.childNodes),!c&&s!=null)for(m={},a=0;a<t.attributes.length;a++)m[(_=t.attributes[a]).name]=_.value;for(a in m)_=m[a],a=="dangerouslySetInnerHTML"?h=_:a=="children"||a in b||a=="value"&&"defaultValue"in b||a=="checked"&&"defaultChecked"in b||ne(t,a,null,_,r);for(a in b)_=b[a],a=="children"?i=_:a=="dangerouslySetInnerHTML"?p=_:a=="value"?$=_:a=="checked"?v=_:c&&typeof _!="function"||m[a]===_||ne(t,a,_,m[a],r);if(p)c||h&&(p.__html==h.__html||p.__html==t.innerHTML)||(t.innerHTML=p.__html),e.__k=[];else if(h&&(t.innerHTML=""),Be(e.type=="template"?t.content:t,de(i)?i:[i],e,n,o,y=="foreignObject"?"http://www.w3.org/1999/xhtml":r,s,l,s?s[0]:n.__k&&W(n,0),c,u),s!=null)for(a=s.length;a--;)xe(s[a]);c&&y!="textarea"||(a="value",y=="progress"&&$==null?t.removeAttribute("value"):$!=null&&($!==t[a]||y=="progress"&&!$||y=="option"&&$!=m[a])&&ne(t,a,$,m[a],r),a="checked",v!=null&&v!=t[a]&&ne(t,a,v,m[a],r))}return t}function Ce(t,e,n){try{if(typeof t=="function"){var o=typeof t.__u=="function";o&&t.__u(),o&&e==null||(t.__u=t(e))}else t.current=e}catch(r){x.__e(r,n)}}function ze(t,e,n){var o,r;if(x.unmount&&x.unmount(t),(o=t.ref)&&(o.current&&o.current!=t.__e||Ce(o,null,e)),(o=t.__c)!=null){if(o.componentWillUnmount)try{o.componentWillUnmount()}catch(s){x.__e(s,e)}o.base=o.__P=o.__n=null}if(o=t.__k)for(r=0;r<o.length;r++)o[r]&&ze(o[r],e,n||typeof t.type!="function");n||xe(t.__e),t.__c=t.__=t.__e=void 0}function qt(t,e,n){return this.constructor(t,n)}function Ge(t,e,n){var o,r,s,l;e==document&&(e=document.documentElement),x.__&&x.__(t,e),r=(o=typeof n=="function")?null:n&&n.__k||e.__k,s=[],l=[],Se(e,t=(!o&&n||e).__k=we(ue,null,[t]),r||ae,ae,e.namespaceURI,!o&&n?[n]:r?null:e.firstChild?ce.call(e.childNodes):null,s,!o&&n?n:r?r.__e:e.firstChild,o,l),Fe(s,t,l),t.props.children=null}ce=ie.slice,x={__e:function(t,e,n,o){for(var r,s,l;e=e.__;)if((r=e.__c)&&!r.__)try{if((s=r.constructor)&&s.getDerivedStateFromError!=null&&(r.setState(s.getDerivedStateFromError(t)),l=r.__d),r.componentDidCatch!=null&&(r.componentDidCatch(t,o||{}),l=r.__d),l)return r.__E=r}catch(c){t=c}throw t}},qe=0,Mt=function(t){return t!=null&&t.constructor===void 0},re.prototype.setState=function(t,e){var n;n=this.__s!=null&&this.__s!=this.state?this.__s:this.__s=q({},this.state),typeof t=="function"&&(t=t(q({},n),this.props)),t&&q(n,t),t!=null&&this.__v&&(e&&this._sb.push(e),Ie(this))},re.prototype.forceUpdate=function(t){this.__v&&(this.__e=!0,t&&this.__h.push(t),Ie(this))},re.prototype.render=ue,R=[],Oe=typeof Promise=="function"?Promise.prototype.then.bind(Promise.resolve()):setTimeout,Re=function(t,e){return t.__v.__b-e.__v.__b},le.__r=0,ye=Math.random().toString(8),oe="__d"+ye,Y="__a"+ye,Ue=/(PointerCapture)$|Capture$/i,ke=0,ve=Ae(!1),be=Ae(!0),Nt=0;var ee,T,Te,Ze,pe=0,st=[],M=x,Qe=M.__b,Xe=M.__r,Ye=M.diffed,et=M.__c,tt=M.unmount,nt=M.__;function je(t,e){M.__h&&M.__h(T,t,pe||e),pe=0;var n=T.__H||(T.__H={__:[],__h:[]});return t>=n.__.length&&n.__.push({}),n.__[t]}function g(t){return pe=1,Ot(it,t)}function Ot(t,e,n){var o=je(ee++,2);if(o.t=t,!o.__c&&(o.__=[n?n(e):it(void 0,e),function(c){var u=o.__N?o.__N[0]:o.__[0],a=o.t(u,c);u!==a&&(o.__N=[a,o.__[1]],o.__c.setState({}))}],o.__c=T,!T.__f)){var r=function(c,u,a){if(!o.__c.__H)return!0;var p=!1,h=o.__c.props!==c;if(o.__c.__H.__.some(function(_){if(_.__N){p=!0;var $=_.__[0];_.__=_.__N,_.__N=void 0,$!==_.__[0]&&(h=!0)}}),s){var i=s.call(this,c,u,a);return p?i||h:i}return!p||h};T.__f=!0;var s=T.shouldComponentUpdate,l=T.componentWillUpdate;T.componentWillUpdate=function(c,u,a){if(this.__e){var p=s;s=void 0,r(c,u,a),s=p}l&&l.call(this,c,u,a)},T.shouldComponentUpdate=r}return o.__N||o.__}function z(t,e){var n=je(ee++,3);!M.__s&&at(n.__H,e)&&(n.__=t,n.u=e,T.__H.__h.push(n))}function rt(t){return pe=5,Rt(function(){return{current:t}},[])}function Rt(t,e){var n=je(ee++,7);return at(n.__H,e)&&(n.__=t(),n.__H=e,n.__h=t),n.__}function Ut(){for(var t;t=st.shift();){var e=t.__H;if(t.__P&&e)try{e.__h.some(_e),e.__h.some(Ee),e.__h=[]}catch(n){e.__h=[],M.__e(n,t.__v)}}}M.__b=function(t){T=null,Qe&&Qe(t)},M.__=function(t,e){t&&e.__k&&e.__k.__m&&(t.__m=e.__k.__m),nt&&nt(t,e)},M.__r=function(t){Xe&&Xe(t),ee=0;var e=(T=t.__c).__H;e&&(Te===T?(e.__h=[],T.__h=[],e.__.some(function(n){n.__N&&(n.__=n.__N),n.u=n.__N=void 0})):(e.__h.some(_e),e.__h.some(Ee),e.__h=[],ee=0)),Te=T},M.diffed=function(t){Ye&&Ye(t);var e=t.__c;e&&e.__H&&(e.__H.__h.length&&(st.push(e)!==1&&Ze===M.requestAnimationFrame||((Ze=M.requestAnimationFrame)||Ht)(Ut)),e.__H.__.some(function(n){n.u&&(n.__H=n.u,n.u=void 0)})),Te=T=null},M.__c=function(t,e){e.some(function(n){try{n.__h.some(_e),n.__h=n.__h.filter(function(o){return!o.__||Ee(o)})}catch(o){e.some(function(r){r.__h&&(r.__h=[])}),e=[],M.__e(o,n.__v)}}),et&&et(t,e)},M.unmount=function(t){tt&&tt(t);var e,n=t.__c;n&&n.__H&&(n.__H.__.some(function(o){try{_e(o)}catch(r){e=r}}),n.__H=void 0,e&&M.__e(e,n.__v))};var ot=typeof requestAnimationFrame=="function";function Ht(t){var e,n=function(){clearTimeout(o),ot&&cancelAnimationFrame(e),setTimeout(t)},o=setTimeout(n,35);ot&&(e=requestAnimationFrame(n))}function _e(t){var e=T,n=t.__c;typeof n=="function"&&(t.__c=void 0,n()),T=e}function Ee(t){var e=T;t.__c=t.__(),T=e}function at(t,e){return!t||t.length!==e.length||e.some(function(n,o){return n!==t[o]})}function it(t,e){return typeof e=="function"?e(t):e}var Le="keymgr.token",U={token:()=>sessionStorage.getItem(Le),set:t=>sessionStorage.setItem(Le,t),clear:()=>sessionStorage.removeItem(Le)},G=class extends Error{constructor(e,n,o){super(o||n||`HTTP ${e}`),this.status=e,this.code=n||""}};async function lt(t,e,n,o){let r={Accept:o||"application/json"},s=U.token();s&&(r.Authorization="Bearer "+s);let l={method:t,headers:r,cache:"no-store",credentials:"omit",referrerPolicy:"no-referrer"};n!==void 0&&(r["Content-Type"]="application/json",l.body=JSON.stringify(n));let c;try{c=await fetch(e,l)}catch(a){throw new G(0,"network","keymgr cannot be reached: "+a.message)}let u=await c.text();if(!c.ok){let a=null;try{a=JSON.parse(u)}catch{}throw new G(c.status,a&&a.error,a&&a.message||u||c.statusText)}return u}async function Me(t,e,n){let o=await lt(t,e,n);return o?JSON.parse(o):null}var C=t=>Me("GET",t),I=(t,e)=>Me("POST",t,e),ct=t=>Me("DELETE",t),Z=(t,e)=>lt("GET",t,void 0,e||"*/*");function O(t){let e=new URLSearchParams;for(let[o,r]of Object.entries(t))r!=null&&r!==""&&e.set(o,String(r));let n=e.toString();return n?"?"+n:""}async function me(t,e,n=2e4,o){let r=[],s;for(;r.length<n;){let l=await C("/v1/audit/ledger"+O({keyset:t,kid:o,kind:"sign",outcome:"ok",from:e,limit:1e3,cursor:s}));if(r.push(...l.entries),l.next_cursor===null||l.next_cursor===void 0)break;s=l.next_cursor}return r}var ut=function(t,e,n,o){var r;e[0]=0;for(var s=1;s<e.length;s++){var l=e[s++],c=e[s]?(e[0]|=l?1:2,n[e[s++]]):e[++s];l===3?o[0]=c:l===4?o[1]=Object.assign(o[1]||{},c):l===5?(o[1]=o[1]||{})[e[++s]]=c:l===6?o[1][e[++s]]+=c+"":l?(r=t.apply(c,ut(t,c,n,["",null])),o.push(r),c[0]?e[0]|=2:(e[s-2]=0,e[s]=r)):o.push(c)}return o},dt=new Map;function _t(t){var e=dt.get(this);return e||(e=new Map,dt.set(this,e)),(e=ut(this,e.get(t)||(e.set(t,e=(function(n){for(var o,r,s=1,l="",c="",u=[0],a=function(i){s===1&&(i||(l=l.replace(/^\s*\n\s*|\s*\n\s*$/g,"")))?u.push(0,i,l):s===3&&(i||l)?(u.push(3,i,l),s=2):s===2&&l==="..."&&i?u.push(4,i,0):s===2&&l&&!i?u.push(5,0,!0,l):s>=5&&((l||!i&&s===5)&&(u.push(s,0,l,r),s=6),i&&(u.push(s,i,0,r),s=6)),l=""},p=0;p<n.length;p++){p&&(s===1&&a(),a(p));for(var h=0;h<n[p].length;h++)o=n[p][h],s===1?o==="<"?(a(),u=[u],s=3):l+=o:s===4?l==="--"&&o===">"?(s=1,l=""):l=o+l[0]:c?o===c?c="":l+=o:o==='"'||o==="'"?c=o:o===">"?(a(),s=1):s&&(o==="="?(s=5,r=l,l=""):o==="/"&&(s<5||n[p][h+1]===">")?(a(),s===3&&(u=u[0]),s=u,(u=u[0]).push(2,0,s),s=0):o===" "||o==="	"||o===`
`||o==="\r"?(a(),s=2):l+=o),s===3&&l==="!--"&&(s=4,u=u[0])}return a(),u})(t)),e),arguments,[])).length>1?e:e[0]}var d=_t.bind(we),D=()=>Math.floor(Date.now()/1e3);function N(t){if(t==null||Number.isNaN(t))return"—";let e=t<0;t=Math.abs(Math.round(t));let n=[],o=[["d",86400],["h",3600],["m",60],["s",1]];for(let[r,s]of o)if((t>=s||r==="s"&&n.length===0)&&(n.push(Math.floor(t/s)+r),t%=s),n.length===2)break;return(e?"-":"")+n.join(" ")}function w(t){return t?new Date(t*1e3).toISOString().replace("T"," ").replace(/\.\d+Z$/,"Z"):"—"}var J=t=>t?w(Math.floor(t/1e3)):"—";function he(t){if(!t)return"—";let e=t-D();return e>=0?"in "+N(e):N(-e)+" ago"}function te(t,e,n){let o=URL.createObjectURL(new Blob([e],{type:n})),r=document.createElement("a");r.href=o,r.download=t,document.body.appendChild(r),r.click(),r.remove(),setTimeout(()=>URL.revokeObjectURL(o),1e3)}function pt(t,e){let n=o=>{let r=o==null?"":typeof o=="object"?JSON.stringify(o):String(o);return/[",\n\r]/.test(r)?'"'+r.replace(/"/g,'""')+'"':r};return[e.join(","),...t.map(o=>e.map(r=>n(o[r])).join(","))].join(`
`)+`
`}var E={act:t=>t.role==="admin"||t.role==="ops",audit:t=>t.role==="admin"||t.role==="auditor",monitor:t=>t.role==="admin"||t.role==="ops"||t.role==="auditor",admin:t=>t.role==="admin"};function Ne(t){return(t.keys||[]).find(e=>e.kid===t.active_kid)}function fe(t,e){let n=t.keys||[],o=D();if(n.some(c=>c.state==="compromised"&&c.state_changed_at>o-30*86400))return{level:"bad",text:"compromised key"};if(t.health&&t.health.overdue)return{level:"bad",text:"rotation overdue"};if(t.health&&t.health.problem)return{level:"bad",text:t.health.problem};if(e>0)return{level:"warn",text:e+(e===1?" alert":" alerts")};if(t.disabled)return{level:"warn",text:"disabled"};let r=Ne(t);if(!r)return{level:"bad",text:"no signing key"};let s=n.some(c=>c.state==="pre-activation"),l=(t.policy.prepublish||0)+(t.policy.rotation_lead||0);return!s&&r.deactivate_at-o<l?{level:"warn",text:"rotation due"}:{level:"ok",text:"OK"}}function mt(t){let e=D(),n=null,o={activate_at:"activates",deactivate_at:"stops signing",retire_at:"leaves JWKS",destroy_at:"destroyed"};for(let r of t.keys||[])if(!(r.state==="destroyed"||r.state==="compromised"))for(let s of Object.keys(o))r[s]>e&&(!n||r[s]<n.at)&&(n={at:r[s],what:`${r.kid.slice(0,8)}… ${o[s]}`});return n}function j({error:t}){if(!t)return null;let e=t.code?d`<code>${t.code}</code> `:"";return d`<div class="error" role="alert">${e}${t.message}</div>`}function Q({level:t,children:e}){return d`<span class=${"badge badge-"+t}>${e}</span>`}function K(t,e){let[n,o]=g({data:null,error:null,loading:!0}),[r,s]=g(0);return z(()=>{let l=!0;return o(c=>({...c,loading:!0})),t().then(c=>l&&o({data:c,error:null,loading:!1}),c=>l&&o({data:null,error:c,loading:!1})),()=>{l=!1}},[...e,r]),{...n,reload:()=>s(l=>l+1)}}function X({title:t,description:e,fields:n=[],reasonRequired:o=!0,confirmLabel:r,danger:s,run:l,onDone:c,onCancel:u}){let[a,p]=g(()=>Object.fromEntries(n.map(S=>[S.name,S.value||""]))),[h,i]=g(""),[_,$]=g(null),[v,m]=g(!1),b=rt(null);return z(()=>{b.current&&b.current.focus()},[]),d`
    <div class="backdrop">
      <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dlg-title" onKeyDown=${S=>{S.key==="Escape"&&u()}}>
        <form onSubmit=${async S=>{if(S.preventDefault(),o&&!h.trim()){$({message:"A reason is required: it is recorded in the ledger with your identity."});return}m(!0),$(null);try{let f=await l({...a,reason:h.trim()});c&&c(f)}catch(f){$(f),m(!1)}}}>
          <h2 id="dlg-title">${t}</h2>
          ${e&&d`<p>${e}</p>`}
          ${n.map(S=>d`
            <label class="field">${S.label}
              <input type=${S.type||"text"} name=${S.name} value=${a[S.name]} required=${!!S.required}
                onInput=${f=>p({...a,[S.name]:f.currentTarget.value})} />
            </label>`)}
          <label class="field">Reason${o?" (required)":""}
            <textarea name="reason" ref=${b} rows="2" value=${h} onInput=${S=>i(S.currentTarget.value)}></textarea>
          </label>
          <${j} error=${_} />
          <div class="buttons">
            <button type="button" onClick=${u}>Cancel</button>
            <button type="submit" class=${s?"danger":"primary"} disabled=${v}>${r||t}</button>
          </div>
        </form>
      </div>
    </div>`}function H({label:t,children:e}){return d`<pre class="pre" tabindex="0" aria-label=${t}>${e}</pre>`}async function Bt(t){let{keysets:e}=await C("/v1/keysets"),n=await Promise.all(e.map(l=>C("/v1/keysets/"+l.name))),o=[];if(E.monitor(t))try{o=(await C("/v1/alerts?state=open&limit=1000")).alerts||[]}catch{o=[]}let r=(D()-3600)*1e3,s={};return E.audit(t)&&await Promise.all(n.map(async l=>{s[l.name]=(await me(l.name,r,5e3)).length})),{keysets:n,alerts:o,volume:s}}function Wt({onCreated:t}){let[e,n]=g({name:"",issuer:"",alg:"ES256",sign_period:""}),[o,r]=g(null),[s,l]=g(!1),c=a=>p=>n({...e,[a]:p.currentTarget.value});return d`<form class="inline-form" onSubmit=${async a=>{a.preventDefault(),l(!0),r(null);try{let p={name:e.name.trim(),issuer:e.issuer.trim(),alg:e.alg};e.sign_period.trim()&&(p.policy={sign_period:e.sign_period.trim()});let h=await I("/v1/keysets",p);n({name:"",issuer:"",alg:"ES256",sign_period:""}),t(h)}catch(p){r(p)}l(!1)}} aria-labelledby="create-h">
    <h2 id="create-h">Create a keyset</h2>
    <label class="field">Name <input name="name" value=${e.name} onInput=${c("name")} required pattern="[a-z0-9_-]+" /></label>
    <label class="field">Issuer URL <input name="issuer" value=${e.issuer} onInput=${c("issuer")} required placeholder=${location.origin+"/name"} /></label>
    <label class="field">Algorithm <select name="alg" value=${e.alg} onChange=${c("alg")}>
      ${["ES256","ES384","RS256","PS256","EdDSA"].map(a=>d`<option value=${a}>${a}</option>`)}</select></label>
    <label class="field">Sign period (optional) <input name="sign_period" value=${e.sign_period} onInput=${c("sign_period")} placeholder="e.g. 30d" /></label>
    <button type="submit" class="primary" disabled=${s}>Create keyset</button>
    <${j} error=${o} />
  </form>`}function ht({me:t}){let{data:e,error:n,loading:o,reload:r}=K(()=>Bt(t),[t.id]);return d`<section aria-labelledby="keysets-h">
    <h1 id="keysets-h">Keysets</h1>
    <${j} error=${n} />
    ${o&&!e&&d`<p>Loading…</p>`}
    ${e&&e.keysets.length===0&&d`<p>No keyset${t.role==="issuer"?" is bound to this token":" yet"}.</p>`}
    ${e&&e.keysets.length>0&&d`<div class="scroll" tabindex="0" role="region" aria-label="keysets table"><table class="grid" data-testid="keysets">
      <thead><tr><th scope="col">keyset</th><th scope="col">issuer</th><th scope="col">algorithm</th><th scope="col">health</th>
        <th scope="col">active key age</th><th scope="col">signatures, last hour</th><th scope="col">next scheduled event</th></tr></thead>
      <tbody>${e.keysets.map(s=>{let l=Ne(s),c=e.alerts.filter(p=>p.keyset===s.name).length,u=fe(s,c),a=mt(s);return d`<tr data-keyset=${s.name}>
          <th scope="row"><a href=${"#/keysets/"+s.name}>${s.name}</a></th>
          <td><code>${s.issuer}</code></td>
          <td>${s.alg}</td>
          <td><${Q} level=${u.level}>${u.text}<//></td>
          <td>${l?N(D()-l.activate_at):"—"}</td>
          <td class="num">${E.audit(t)?e.volume[s.name]>=5e3?"5000+":e.volume[s.name]:l&&l.signatures!==void 0?l.signatures+" (total)":"—"}</td>
          <td>${a?d`${he(a.at)}: ${a.what}`:"—"}</td></tr>`})}</tbody></table></div>`}
    ${E.act(t)&&d`<${Wt} onCreated=${s=>{location.hash="#/keysets/"+s.name,r()}} />`}
  </section>`}var ft=34,B=40,$t=150,$e=1e3;function Jt(t){let e=D(),n=t.keys||[],o=Math.min(e,...n.map(l=>l.created_at)),r=e+Math.max(t.policy.sign_period||3600,t.policy.verifier_cache||0)/2;for(let l of n)l.state!=="destroyed"&&(r=Math.max(r,l.retire_at||0));let s=(r-o)*.04||60;return[o-s,r+s]}function gt(t,e){return t==="seg-pre"?"prepublish "+N(e.prepublish):t==="seg-sign"?"signing · period "+N(e.sign_period):t==="seg-grace"?"grace "+N(e.verify_grace):"retired · destroy after "+N(e.destroy_after)}function Ft(t){let e=t.state==="compromised"?t.state_changed_at:1/0;return[[t.created_at,t.activate_at,"seg-pre","pre-publication"],[t.activate_at,t.deactivate_at,"seg-sign","signing window"],[t.deactivate_at,t.retire_at,"seg-grace","verification grace"],[t.retire_at,t.destroy_at,"seg-retired","retired (not published)"]].map(([o,r,s,l])=>[o,Math.min(r,e),s,l]).filter(([o,r])=>r>o)}var Vt=[["life","whole life"],["week","±3 days"],["day","±12 hours"],["hour","±1 hour"]],yt={week:3*86400,day:12*3600,hour:3600};function vt({ks:t}){let[e,n]=g("life"),o=[...t.keys||[]].sort((_,$)=>_.created_at-$.created_at),[r,s]=e==="life"?Jt(t):[D()-yt[e],D()+yt[e]],l=_=>$t+(Math.max(r,Math.min(s,_))-r)/(s-r)*($e-$t-10),c=D(),u=B+o.length*ft+46,a=t.policy,p=o.find(_=>_.kid===t.active_kid),h=[];for(let _=0;_<=4;_++)h.push(r+(s-r)*_/4);let i=`Key timeline of ${t.name}: ${o.length} keys; `+o.map(_=>`${_.kid} ${_.state}, signs ${w(_.activate_at)} to ${w(_.deactivate_at)}`).join("; ");return d`
    <fieldset class="span-picker"><legend>Time range</legend>
      ${Vt.map(([_,$])=>d`<label><input type="radio" name="span" value=${_} checked=${e===_} onChange=${()=>n(_)} /> ${$}</label>`)}
    </fieldset>
    <figure class="timeline">
      <svg viewBox=${`0 0 ${$e} ${u}`} role="img" aria-label=${i} data-testid="timeline">
        ${h.map((_,$)=>d`<g>
          <line class="tick" x1=${l(_)} x2=${l(_)} y1=${B-8} y2=${u-40} />
          <text class="axis" x=${l(_)} y=${u-26} text-anchor=${$===0?"start":$===4?"end":"middle"}>${w(Math.round(_)).slice(5,16)}</text></g>`)}
        ${o.map((_,$)=>{let v=B+$*ft;return d`<g class=${"lane state-"+_.state} data-kid=${_.kid}>
            <text class="kid" x="4" y=${v+17}>${_.kid.slice(0,12)}${_.kid===t.active_kid?" ★":""}</text>
            <text class="kstate" x="4" y=${v+29}>${_.state}</text>
            ${Ft(_).filter(([m,b])=>b>r&&m<s).map(([m,b,y,L])=>d`<rect class=${y} x=${l(m)} y=${v+6} width=${Math.max(1,l(b)-l(m))} height="20" rx="3"><title>${L}: ${w(m)} → ${w(b)}</title></rect>
              ${l(b)-l(m)>gt(y,a).length*6.2+8&&d`<text class=${"seg-text "+y+"-t"} x=${l(m)+4} y=${v+20}>${gt(y,a)}</text>`}`)}
            ${_.compromised_since&&d`<rect class="seg-exposed" x=${l(_.compromised_since)} y=${v+2} width=${Math.max(2,l(_.state_changed_at)-l(_.compromised_since))} height="4"><title>suspected exposure since ${w(_.compromised_since)}</title></rect>`}
            ${_.state==="compromised"&&d`<g><line class="mark-compromise" x1=${l(_.state_changed_at)} x2=${l(_.state_changed_at)} y1=${v+2} y2=${v+30} /><text class="mark-text bad" x=${l(_.state_changed_at)+4} y=${v+17}>compromised</text></g>`}
            ${_.state==="suspended"&&d`<text class="mark-text warn" x=${l(_.state_changed_at)+4} y=${v+17}>suspended</text>`}
            ${_.state==="destroyed"&&d`<text class="mark-text" x=${l(_.destroy_at)+4} y=${v+17}>destroyed</text>`}
          </g>`})}
        <line class="now" x1=${l(c)} x2=${l(c)} y1=${B-16} y2=${u-40} />
        <text class="now-label" x=${l(c)} y=${B-20} text-anchor="middle">now</text>
        ${p&&p.deactivate_at>c&&p.deactivate_at>s&&d`<text class="next-label" x=${$e-12} y=${B-26} text-anchor="end">next rotation ${w(p.deactivate_at).slice(5,16)} →</text>`}
        ${p&&p.deactivate_at>c&&p.deactivate_at<=s&&d`<g>
          <line class="next" x1=${l(p.deactivate_at)} x2=${l(p.deactivate_at)} y1=${B-16} y2=${u-40} />
          <text class="next-label" x=${l(p.deactivate_at)} y=${B-26} text-anchor=${l(p.deactivate_at)>$e-120?"end":"middle"}>next rotation ${w(p.deactivate_at).slice(5,16)}</text></g>`}
        <g class="policy">
          <line class="bracket" x1=${l(c)} x2=${l(c+a.verifier_cache)} y1=${u-12} y2=${u-12} />
          <text class="axis" x=${l(c)} y=${u-2}>now + verifier cache ${N(a.verifier_cache)}</text>
        </g>
      </svg>
      <figcaption>
        <span class="legend seg-pre-l">pre-publication (prepublish ${N(a.prepublish)})</span>
        <span class="legend seg-sign-l">signing window (sign period ${N(a.sign_period)})</span>
        <span class="legend seg-grace-l">verification grace (${N(a.verify_grace)})</span>
        <span class="legend seg-retired-l">retired (destroyed after ${N(a.destroy_after)})</span>
        <span class="legend">verifier cache ${N(a.verifier_cache)} · JWKS max-age ${N(a.jwks_max_age)} · max token TTL ${N(a.max_token_ttl)}</span>
      </figcaption>
    </figure>`}function bt({keys:t,entries:e,hours:n=24}){let r=D()-n*3600,s=new Map;for(let u of e){let a=Math.min(n-1,Math.floor((u.ts_ms/1e3-r)/3600));a<0||(s.has(u.kid)||s.set(u.kid,new Array(n).fill(0)),s.get(u.kid)[a]++)}let l=t.filter(u=>s.has(u.kid)||u.signatures);if(l.length===0)return d`<p>No signatures in the last ${n} hours.</p>`;let c=Math.max(1,...[...s.values()].flat());return d`<table class="grid volume">
    <caption>Signatures per key, last ${n} hours (one bar per hour)</caption>
    <thead><tr><th scope="col">key</th><th scope="col">last ${n}h</th><th scope="col">all time</th><th scope="col">last signed</th><th scope="col">per hour</th></tr></thead>
    <tbody>${l.map(u=>{let a=s.get(u.kid)||new Array(n).fill(0),p=a.reduce((h,i)=>h+i,0);return d`<tr data-kid=${u.kid}>
        <th scope="row"><code>${u.kid.slice(0,16)}</code></th>
        <td class="num" data-testid="volume-count">${p}</td>
        <td class="num">${u.signatures!==void 0?u.signatures:"—"}</td>
        <td>${u.last_signed_at?w(u.last_signed_at):"—"}</td>
        <td><svg class="spark" viewBox=${`0 0 ${n*6} 24`} role="img" aria-label=${`${p} signatures by ${u.kid} in the last ${n} hours`}>
          ${a.map((h,i)=>h>0&&d`<rect class="bar" x=${i*6} y=${24-Math.max(2,h/c*24)} width="5" height=${Math.max(2,h/c*24)}><title>${h}</title></rect>`)}
        </svg></td></tr>`})}</tbody></table>`}var kt=t=>t?Math.floor(new Date(t).getTime()/1e3):void 0,xt=t=>new Date((t-new Date().getTimezoneOffset()*60)*1e3).toISOString().slice(0,16);function zt(t){let e="/v1/keysets/"+t.name;return{rotate:{title:"Rotate now",description:`The pre-published successor of ${t.name} starts signing now (or a new key is made).`,run:n=>I(e+"/rotate",{reason:n.reason})},emergency:{title:"Emergency rotate",danger:!0,description:"A new key is generated and signs at once, without pre-publication: verifiers that cached the JWKS will reject its tokens until they refetch.",run:n=>I(e+"/emergency-rotate",{reason:n.reason})},suspend:n=>({title:"Suspend key",description:`Key ${n.kid} stops signing; it stays in the JWKS.`,run:o=>I(`${e}/keys/${n.kid}/suspend`,{reason:o.reason})}),resume:n=>({title:"Resume key",description:`Key ${n.kid} signs again.`,run:o=>I(`${e}/keys/${n.kid}/resume`,{reason:o.reason})}),compromise:n=>({title:"Mark key compromised",danger:!0,description:`Key ${n.kid} leaves the JWKS at once (tokens it signed no longer verify) and a successor signs.`,fields:[{name:"since",label:"Suspected since",type:"datetime-local",value:xt(n.activate_at)}],run:o=>I(`${e}/keys/${n.kid}/compromise`,{reason:o.reason,suspected_since:kt(o.since)})}),extend:n=>({title:"Extend signing window",description:`Key ${n.kid} signs until the given time.`,fields:[{name:"until",label:"Sign until",type:"datetime-local",required:!0,value:xt(Math.max(n.deactivate_at,D())+86400)}],run:o=>I(`${e}/keys/${n.kid}/extend`,{reason:o.reason,until:kt(o.until)})})}}async function Gt(t,e){let n=await C("/v1/keysets/"+t),o=null;try{o=JSON.parse(await Z(`/v1/keysets/${t}/jwks.json`,"application/json"))}catch{o=null}let r=null;return E.audit(e)&&(r=await me(t,(D()-86400)*1e3)),{ks:n,jwks:o,entries:r}}function wt({me:t,name:e}){let{data:n,error:o,reload:r}=K(()=>Gt(e,t),[e,t.id]),[s,l]=g(null),[c,u]=g("");if(o)return d`<section><h1>Keyset ${e}</h1><${j} error=${o} /></section>`;if(!n)return d`<section><h1>Keyset ${e}</h1><p>Loading…</p></section>`;let{ks:a,jwks:p,entries:h}=n,i=zt(a),_=fe(a,0),$=(m,b)=>l({...m,onDone:()=>{l(null),u(b+" done"),r()}}),v=E.act(t);return d`<section aria-labelledby="ks-h">
    <h1 id="ks-h">Keyset ${a.name} <${Q} level=${_.level}>${_.text}<//></h1>
    <p class="meta">issuer <code>${a.issuer}</code> · ${a.alg} · JWKS <a href=${new URL(a.jwks_uri).pathname}>${a.jwks_uri}</a>
      ${a.health.last_error&&d` · last error: ${a.health.last_error}`}</p>
    ${c&&d`<p class="notice" role="status">${c}</p>`}
    ${v&&d`<div class="toolbar" aria-label="keyset actions">
      <button type="button" onClick=${()=>$(i.rotate,"Rotation")}>Rotate now…</button>
      <button type="button" class="danger" onClick=${()=>$(i.emergency,"Emergency rotation")}>Emergency rotate…</button>
      <a class="button" href=${"#/compromise/"+a.name}>Compromise response…</a>
    </div>`}
    <h2>Key timeline</h2>
    <${vt} ks=${a} />
    <h2>Keys</h2>
    <div class="scroll" tabindex="0" role="region" aria-label="keys table"><table class="grid" data-testid="keys">
      <thead><tr><th scope="col">kid</th><th scope="col">state</th><th scope="col">created</th><th scope="col">signs from</th><th scope="col">signs until</th>
        <th scope="col">leaves JWKS</th><th scope="col">destroyed</th><th scope="col">signatures</th>${v&&d`<th scope="col">actions</th>`}</tr></thead>
      <tbody>${[...a.keys].reverse().map(m=>d`<tr data-kid=${m.kid} class=${"state-"+m.state}>
        <th scope="row"><code title=${m.kid}>${m.kid.length>20?m.kid.slice(0,20)+"…":m.kid}</code>${m.kid===a.active_kid?" (signing)":""}${m.emergency?" (emergency)":""}</th>
        <td>${m.state}${m.compromised_since?d`<br /><small>suspected since ${w(m.compromised_since)}</small>`:""}</td>
        <td>${w(m.created_at)}</td><td>${w(m.activate_at)}</td><td>${w(m.deactivate_at)} <small>(${he(m.deactivate_at)})</small></td>
        <td>${w(m.retire_at)}</td><td>${w(m.destroy_at)}</td>
        <td class="num">${m.signatures!==void 0?m.signatures:"—"}${m.last_signed_at?d`<br /><small>last ${w(m.last_signed_at)}</small>`:""}</td>
        ${v&&d`<td class="actions">
          ${m.state==="active"&&d`<button type="button" onClick=${()=>$(i.suspend(m),"Suspension")}>Suspend…</button>`}
          ${m.state==="suspended"&&d`<button type="button" onClick=${()=>$(i.resume(m),"Resume")}>Resume…</button>`}
          ${["active","deactivated","retired"].includes(m.state)&&d`<button type="button" onClick=${()=>$(i.extend(m),"Extension")}>Extend…</button>`}
          ${["pre-activation","active","suspended","deactivated","retired"].includes(m.state)&&d`<button type="button" class="danger" onClick=${()=>$(i.compromise(m),"Compromise")}>Compromise…</button>`}
        </td>`}
      </tr>`)}</tbody></table></div>
    <h2>Signing volume</h2>
    ${h?d`<${bt} keys=${a.keys} entries=${h} />`:d`<p>The signing volume comes from the ledger: it needs an auditor or admin token.${a.keys.some(m=>m.signatures!==void 0)?" Totals per key are in the keys table.":""}</p>`}
    <h2>Policy</h2>
    <dl class="policy-list">${Object.entries(a.policy).map(([m,b])=>d`<div><dt>${m}</dt><dd>${/^sign_(rate|burst)$/.test(m)?b:N(b)}</dd></div>`)}</dl>
    <h2>JWKS as verifiers see it</h2>
    ${p?d`<p>${p.keys.length} keys published: ${p.keys.map(m=>d`<code class="kid-chip">${m.kid}</code> `)}</p>
      <${H} label="JWKS document">${JSON.stringify(p,null,2)}<//>`:d`<p>The JWKS could not be read.</p>`}
    ${s&&d`<${X} ...${s} onCancel=${()=>l(null)} />`}
  </section>`}var Pe=["keyset","kid","sub","jti","actor","outcome","kind"],St=t=>t?new Date(t).getTime():void 0;function Zt({e:t,onClose:e}){let{data:n,error:o}=K(()=>C("/v1/audit/proof?seq="+t.seq),[t.seq]);return d`<section class="panel" aria-labelledby="entry-h" data-testid="entry-detail">
    <h2 id="entry-h">Ledger entry ${t.seq} <button type="button" onClick=${e}>Close</button></h2>
    <${H} label="ledger entry">${JSON.stringify(t,null,2)}<//>
    <h3>Inclusion proof</h3>
    ${o&&d`<p>No proof yet: <${j} error=${o} /></p>`}
    ${n&&d`<p>Leaf ${n.index} of a tree of ${n.tree_size} entries; ${n.path.length} hashes on the audit path.</p>
      <${H} label="inclusion proof">${n.proof}<//>
      <h3>Checkpoint</h3><${H} label="checkpoint">${n.checkpoint}<//>`}
  </section>`}function Ct({params:t}){let[e,n]=g(()=>Object.fromEntries([...Pe,"from","to"].map(f=>[f,t.get(f)||""]))),[o,r]=g(e),[s,l]=g([void 0]),[c,u]=g(null),[a,p]=g(null),[h,i]=g(null),_={...Object.fromEntries(Pe.map(f=>[f,o[f]])),from:St(o.from),to:St(o.to)},$=s[s.length-1],{data:v,error:m,loading:b}=K(()=>C("/v1/audit/ledger"+O({..._,limit:50,cursor:$})),[JSON.stringify(_),$]),y=f=>{f.preventDefault(),r(e),l([void 0]),u(null)},L=async f=>{i(null);try{let P=await Z("/v1/audit/export"+O({..._,format:f}));te("ledger."+(f==="csv"?"csv":"ndjson"),P,f==="csv"?"text/csv":"application/x-ndjson")}catch(P){i(P)}},S=async()=>{p({running:!0});try{p({result:await C("/v1/audit/verify")})}catch(f){p({error:f})}};return d`<section aria-labelledby="ledger-h">
    <h1 id="ledger-h">Ledger</h1>
    <form class="filters" onSubmit=${y} aria-label="ledger filters">
      ${Pe.map(f=>d`<label class="field">${f==="actor"?"caller":f} <input name=${f} value=${e[f]} onInput=${P=>n({...e,[f]:P.currentTarget.value})} /></label>`)}
      <label class="field">from <input type="datetime-local" name="from" value=${e.from} onInput=${f=>n({...e,from:f.currentTarget.value})} /></label>
      <label class="field">to <input type="datetime-local" name="to" value=${e.to} onInput=${f=>n({...e,to:f.currentTarget.value})} /></label>
      <button type="submit" class="primary">Apply filters</button>
    </form>
    <div class="toolbar">
      <button type="button" onClick=${()=>L("ndjson")}>Export NDJSON</button>
      <button type="button" onClick=${()=>L("csv")}>Export CSV</button>
      <button type="button" onClick=${S}>Verify ledger</button>
    </div>
    <${j} error=${h||m} />
    ${a&&d`<div class=${"verify "+(a.result?a.result.ok?"ok":"bad":"")} role="status" data-testid="verify-result">
      ${a.running&&"Verifying the whole ledger…"}
      ${a.error&&d`<${j} error=${a.error} />`}
      ${a.result&&d`<strong>${a.result.ok?"Ledger verified":"Ledger verification FAILED"}</strong>: ${a.result.entries} entries, tree size ${a.result.tree_size}, ${a.result.checkpoints_checked}/${a.result.checkpoints} checkpoints checked${a.result.problem?" — "+a.result.problem:""}`}
    </div>`}
    ${c&&d`<${Zt} e=${c} onClose=${()=>u(null)} />`}
    ${b&&!v&&d`<p>Loading…</p>`}
    ${v&&d`<div class="scroll" tabindex="0" role="region" aria-label="ledger entries"><table class="grid" data-testid="ledger">
      <thead><tr><th scope="col">seq</th><th scope="col">time (UTC)</th><th scope="col">kind</th><th scope="col">event</th><th scope="col">keyset</th><th scope="col">kid</th>
        <th scope="col">caller</th><th scope="col">outcome</th><th scope="col">sub / jti</th><th scope="col">reason</th></tr></thead>
      <tbody>${v.entries.map(f=>d`<tr class=${c&&c.seq===f.seq?"selected":""}>
        <th scope="row"><button type="button" class="link" onClick=${()=>u(f)} aria-label=${"details of entry "+f.seq}>${f.seq}</button></th>
        <td>${J(f.ts_ms)}</td><td>${f.kind}</td><td>${f.event}</td><td>${f.keyset}</td><td><code>${(f.kid||"").slice(0,12)}</code></td>
        <td>${f.actor}</td><td>${f.outcome}</td><td>${f.sub||""}${f.jti?d` <small>${f.jti.slice(0,12)}</small>`:""}</td><td>${f.reason}</td></tr>`)}
      </tbody></table></div>
      <nav class="pager" aria-label="ledger pages">
        <button type="button" disabled=${s.length===1} onClick=${()=>l(s.slice(0,-1))}>← Newer</button>
        <span>page ${s.length}</span>
        <button type="button" disabled=${v.next_cursor===null} onClick=${()=>l([...s,v.next_cursor])}>Older →</button>
      </nav>`}
  </section>`}var Qt=["seq","ts_ms","kid","jti","sub","aud","iat","exp","token_sha256","actor"];function Xt({me:t,name:e,kid:n,since:o,before:r}){let{data:s,error:l}=K(async()=>{let i=await C("/v1/keysets/"+e),_=JSON.parse(await Z(`/v1/keysets/${e}/jwks.json`,"application/json")),$=null,v=null;return E.audit(t)&&($=await C("/v1/audit/affected"+O({kid:n,since:o})),v=(await C("/v1/audit/ledger"+O({keyset:e,limit:10}))).entries),{ks:i,jwks:_,affected:$,entries:v}},[e,n]);if(l)return d`<${j} error=${l} />`;if(!s)return d`<p>Reading the outcome…</p>`;let{ks:c,jwks:u,affected:a,entries:p}=s,h=u.keys.some(i=>i.kid===n);return d`<section class="panel" aria-labelledby="outcome-h" data-testid="compromise-outcome">
    <h2 id="outcome-h">What happened</h2>
    <ol class="steps">
      <li class=${h?"bad":"ok"}>Key <code>${n}</code> ${h?"is STILL in the JWKS":"was removed from the JWKS"} (${u.keys.length} ${u.keys.length===1?"key":"keys"} published now).</li>
      <li class=${c.active_kid&&c.active_kid!==n?"ok":"bad"}>${c.active_kid?d`Successor <code>${c.active_kid}</code> signs${r&&r!==c.active_kid&&r!==n,""}.`:"No key signs: rotate or investigate."}</li>
      <li>Tokens signed by the key since ${w(o)} that are still valid: ${a?d`<strong data-testid="affected-count">${a.count}</strong>`:"needs an auditor or admin token to list"}.</li>
    </ol>
    ${a&&a.count>0&&d`
      <div class="toolbar">
        <button type="button" onClick=${()=>te(`affected-${n}.csv`,pt(a.tokens,Qt),"text/csv")}>Export CSV</button>
        <button type="button" onClick=${()=>te(`affected-${n}.ndjson`,a.tokens.map(i=>JSON.stringify(i)).join(`
`)+`
`,"application/x-ndjson")}>Export NDJSON</button>
      </div>
      <div class="scroll" tabindex="0" role="region" aria-label="affected tokens"><table class="grid" data-testid="affected">
        <thead><tr><th scope="col">seq</th><th scope="col">signed (UTC)</th><th scope="col">sub</th><th scope="col">jti</th><th scope="col">expires (UTC)</th><th scope="col">caller</th></tr></thead>
        <tbody>${a.tokens.slice(0,200).map(i=>d`<tr><th scope="row">${i.seq}</th><td>${J(i.ts_ms)}</td><td>${i.sub}</td><td><code>${i.jti}</code></td><td>${w(i.exp)}</td><td>${i.actor}</td></tr>`)}</tbody>
      </table></div>${a.count>200&&d`<p>First 200 of ${a.count}; the export has all.</p>`}`}
    ${p&&d`<h3>Recorded in the ledger</h3>
      <${H} label="latest ledger entries of the keyset">${p.map(i=>`#${i.seq} ${J(i.ts_ms)} ${i.kind}/${i.event} kid=${i.kid} by ${i.actor} ${i.outcome}${i.reason?" — "+i.reason:""}`).join(`
`)}<//>`}
    <p><a href=${"#/keysets/"+e}>See the keyset's timeline</a></p>
  </section>`}function Tt({me:t,name:e}){let{data:n,error:o}=K(()=>C("/v1/keysets"),[t.id]),[r,s]=g(e||""),l=K(()=>r?C("/v1/keysets/"+r):Promise.resolve(null),[r]),[c,u]=g(""),[a,p]=g(""),[h,i]=g(""),[_,$]=g(!1),[v,m]=g(!1),[b,y]=g(null),[L,S]=g(null);if(!E.act(t))return d`<section><h1>Compromise response</h1><p>Marking a key compromised needs an ops or admin token.</p></section>`;let f=l.data?l.data.keys.filter(k=>!["compromised","destroyed"].includes(k.state)):[],P=f.find(k=>k.kid===c);return d`<section aria-labelledby="cmp-h">
    <h1 id="cmp-h">Compromise response</h1>
    <${j} error=${o} />
    ${!L&&d`<form class="steps-form" onSubmit=${async k=>{if(k.preventDefault(),y(null),!h.trim()){y({message:"A reason is required: it is recorded in the ledger with your identity."});return}if(!_){y({message:"Tick the confirmation first."});return}let F=a?Math.floor(new Date(a).getTime()/1e3):P.activate_at;m(!0);try{await I(`/v1/keysets/${r}/keys/${c}/compromise`,{reason:h.trim(),suspected_since:F}),S({name:r,kid:c,since:F,before:l.data.active_kid})}catch(A){y(A)}m(!1)}}>
      <fieldset><legend>1. Choose the key</legend>
        <label class="field">Keyset <select name="keyset" value=${r} onChange=${k=>{s(k.currentTarget.value),u("")}}>
          <option value="">— choose —</option>
          ${n&&n.keysets.map(k=>d`<option value=${k.name}>${k.name}</option>`)}</select></label>
        <label class="field">Key <select name="kid" value=${c} onChange=${k=>u(k.currentTarget.value)} disabled=${!r}>
          <option value="">— choose —</option>
          ${f.map(k=>d`<option value=${k.kid}>${k.kid} (${k.state})</option>`)}</select></label>
      </fieldset>
      <fieldset disabled=${!P}><legend>2. Describe the compromise</legend>
        <label class="field">Reason (required) <input name="reason" value=${h} onInput=${k=>i(k.currentTarget.value)} /></label>
        <label class="field">Suspected since (default: the key's first signature, ${P?w(P.activate_at):"—"}) <input type="datetime-local" name="since" value=${a} max=${new Date((D()+60)*1e3).toISOString().slice(0,16)} onInput=${k=>p(k.currentTarget.value)} /></label>
      </fieldset>
      <fieldset disabled=${!P}><legend>3. Confirm</legend>
        <label class="check"><input type="checkbox" name="confirm" checked=${_} onChange=${k=>$(k.currentTarget.checked)} />
          I understand: the key leaves the JWKS now, every token it signed stops verifying, and a successor signs.</label>
        <button type="submit" class="danger" disabled=${v||!P}>Mark ${c?c.slice(0,12):"key"} compromised</button>
      </fieldset>
      <${j} error=${b} />
    </form>`}
    ${L&&d`<${Xt} me=${t} ...${L} />`}
  </section>`}function Et({me:t}){let[e,n]=g("open"),{data:o,error:r,reload:s}=K(()=>C("/v1/alerts"+O({state:e,limit:200})),[e]),[l,c]=g(null),u=a=>a==="critical"?"bad":a==="warning"?"warn":"ok";return d`<section aria-labelledby="alerts-h">
    <h1 id="alerts-h">Alerts</h1>
    <label class="field">Show <select name="state" value=${e} onChange=${a=>n(a.currentTarget.value)}>
      <option value="open">open</option><option value="acknowledged">acknowledged</option><option value="all">all</option></select></label>
    <${j} error=${r} />
    ${o&&o.alerts.length===0&&d`<p>No ${e==="all"?"":e+" "}alerts.</p>`}
    ${o&&o.alerts.length>0&&d`<div class="scroll" tabindex="0" role="region" aria-label="alerts table"><table class="grid" data-testid="alerts">
      <thead><tr><th scope="col">raised (UTC)</th><th scope="col">severity</th><th scope="col">kind</th><th scope="col">keyset / key</th><th scope="col">summary</th><th scope="col">seen</th><th scope="col">state</th></tr></thead>
      <tbody>${o.alerts.map(a=>d`<tr>
        <td>${J(a.raised_at_ms)}</td><td><${Q} level=${u(a.severity)}>${a.severity}<//></td><td>${a.kind}</td>
        <td><a href=${"#/keysets/"+a.keyset}>${a.keyset}</a> <code>${(a.kid||"").slice(0,12)}</code></td><td>${a.summary}</td><td class="num">${a.occurrences}</td>
        <td>${a.acknowledged?d`acknowledged by ${a.acknowledgement.by}: ${a.acknowledgement.reason}`:E.act(t)?d`<button type="button" onClick=${()=>c({title:"Acknowledge alert",description:a.summary,run:p=>I(`/v1/alerts/${a.id}/ack`,{reason:p.reason}),onDone:()=>{c(null),s()}})}>Acknowledge…</button>`:"open"}</td></tr>`)}
      </tbody></table></div>`}
    ${l&&d`<${X} ...${l} onCancel=${()=>c(null)} />`}
  </section>`}function jt(){let{data:t,error:e,reload:n}=K(()=>C("/v1/tokens"),[]),[o,r]=g({name:"",role:"issuer",keysets:""}),[s,l]=g(null),[c,u]=g(null),[a,p]=g(null);return d`<section aria-labelledby="tokens-h">
    <h1 id="tokens-h">API tokens</h1>
    <form class="inline-form" onSubmit=${async i=>{i.preventDefault(),u(null);try{let _=o.keysets.split(",").map($=>$.trim()).filter(Boolean);l(await I("/v1/tokens",{name:o.name.trim(),role:o.role,keysets:_})),r({name:"",role:"issuer",keysets:""}),n()}catch(_){u(_)}}} aria-labelledby="newtok-h">
      <h2 id="newtok-h">Create a token</h2>
      <label class="field">Name <input name="name" required value=${o.name} onInput=${i=>r({...o,name:i.currentTarget.value})} /></label>
      <label class="field">Role <select name="role" value=${o.role} onChange=${i=>r({...o,role:i.currentTarget.value})}>
        ${["issuer","auditor","ops","admin","verifier"].map(i=>d`<option value=${i}>${i}</option>`)}</select></label>
      <label class="field">Keysets (issuer; comma-separated) <input name="keysets" value=${o.keysets} onInput=${i=>r({...o,keysets:i.currentTarget.value})} /></label>
      <button type="submit" class="primary">Create token</button>
      <${j} error=${c} />
    </form>
    ${s&&d`<div class="secret" role="status" data-testid="new-token">
      <p><strong>Token "${s.name}" (${s.role}) created.</strong> Copy it now: it is shown once and keymgr keeps only its hash.</p>
      <label class="field">Secret <input readonly name="secret" value=${s.token} onFocus=${i=>i.currentTarget.select()} /></label>
      <button type="button" onClick=${()=>l(null)}>I have copied it</button></div>`}
    <${j} error=${e} />
    ${t&&d`<div class="scroll" tabindex="0" role="region" aria-label="API tokens table"><table class="grid" data-testid="tokens">
      <thead><tr><th scope="col">name</th><th scope="col">id</th><th scope="col">role</th><th scope="col">keysets</th><th scope="col">created (UTC)</th><th scope="col">state</th></tr></thead>
      <tbody>${t.tokens.map(i=>d`<tr data-token=${i.name}>
        <th scope="row">${i.name}</th><td><code>${i.id}</code></td><td>${i.role}</td><td>${i.keysets.join(", ")}</td><td>${w(i.created_at)}</td>
        <td>${i.revoked_at?"revoked "+w(i.revoked_at):d`<button type="button" class="danger" onClick=${()=>p({title:"Revoke token",danger:!0,reasonRequired:!1,description:`Token "${i.name}" stops working at once.`,run:()=>ct("/v1/tokens/"+i.id),onDone:()=>{p(null),n()}})}>Revoke…</button>`}</td></tr>`)}
      </tbody></table></div>`}
    ${a&&d`<${X} ...${a} onCancel=${()=>p(null)} />`}
  </section>`}function Yt(){let[t,e]=g(location.hash);return z(()=>{let n=()=>e(location.hash);return addEventListener("hashchange",n),()=>removeEventListener("hashchange",n)},[]),t}function en({onSignedIn:t,error:e}){let[n,o]=g(""),[r,s]=g(e),[l,c]=g(!1);return d`<main id="main" class="signin">
    <h1>keymgr console</h1>
    <form onSubmit=${async a=>{a.preventDefault(),c(!0),s(null),U.set(n.trim());try{t(await C("/v1/whoami"))}catch(p){U.clear(),s(p),c(!1)}}} aria-labelledby="signin-h">
      <h2 id="signin-h">Sign in</h2>
      <p>Paste an API token (<code>km_…</code>). It is kept in this tab only (sessionStorage) until you sign out or close the tab.</p>
      <label class="field">API token <input type="password" name="token" autocomplete="off" spellcheck="false" required value=${n} onInput=${a=>o(a.currentTarget.value)} /></label>
      <button type="submit" class="primary" disabled=${l}>Sign in</button>
      <${j} error=${r} />
    </form>
  </main>`}function tn(t){let[e,n]=t.replace(/^#/,"").split("?");return{parts:e.split("/").filter(Boolean),params:new URLSearchParams(n||"")}}function nn({me:t,current:e,onSignOut:n}){let o=[["keysets","Keysets",!0],["ledger","Ledger",E.audit(t)],["compromise","Compromise response",E.act(t)],["alerts","Alerts",E.monitor(t)],["tokens","API tokens",E.admin(t)]];return d`<header class="top">
    <a class="brand" href="#/keysets">keymgr</a>
    <nav aria-label="screens"><ul>${o.filter(r=>r[2]).map(([r,s])=>d`<li>
      <a href=${"#/"+r} aria-current=${e===r?"page":void 0}>${s}</a></li>`)}</ul></nav>
    <span class="who" data-testid="who">${t.name} <span class="role">${t.role}</span></span>
    <button type="button" onClick=${n}>Sign out</button>
  </header>`}function on(){let t=Yt(),[e,n]=g(null),[o,r]=g(null),[s,l]=g(!!U.token());z(()=>{U.token()&&C("/v1/whoami").then(n,i=>{i instanceof G&&i.status===401&&U.clear(),r(i)}).finally(()=>l(!1))},[]);let c=()=>{U.clear(),n(null),r(null),location.hash=""};if(s)return d`<main id="main"><p>Signing in…</p></main>`;if(!e)return d`<${en} error=${o} onSignedIn=${i=>{n(i),location.hash||(location.hash="#/keysets")}} />`;let{parts:u,params:a}=tn(t),p=u[0]||"keysets",h;return p==="keysets"&&u[1]?h=d`<${wt} me=${e} name=${u[1]} key=${u[1]} />`:p==="ledger"&&E.audit(e)?h=d`<${Ct} me=${e} params=${a} />`:p==="compromise"?h=d`<${Tt} me=${e} name=${u[1]} key=${u[1]||""} />`:p==="alerts"&&E.monitor(e)?h=d`<${Et} me=${e} />`:p==="tokens"&&E.admin(e)?h=d`<${jt} me=${e} />`:h=d`<${ht} me=${e} />`,d`<${nn} me=${e} current=${p} onSignOut=${c} />
    <main id="main">${h}</main>
    <footer class="foot">Signed in as ${e.name} (${e.role})${e.keysets.length?" for "+e.keysets.join(", "):""}. Every action is recorded in the ledger under this token.</footer>`}var Lt=document.getElementById("app");Lt.textContent="";Ge(d`<${on} />`,Lt);
